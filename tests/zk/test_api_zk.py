"""The HTTP API (pvcapid under gunicorn) on a real ZooKeeper: version and metrics without a key, 401
without a valid one, TLS, JSON errors naming the field, tasks for long operations, the served OpenAPI
document, and the same answers the CLI's client library gives."""

from __future__ import annotations

import datetime
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from api_support import Api, start_api, stop_api
from support import domain_xml, wait_until

from pvc_core.client import Cluster
from pvc_core.zk import paths


def test_version_and_metrics_need_no_key_and_everything_else_does(api: Api, running: Cluster) -> None:
    status, body, headers = api.call("GET", "", key=None)
    assert status == 200 and body["api"] == "v1" and headers.get("X-Request-Id")
    with urllib.request.urlopen(api.url.replace("/api/v1", "/metrics"), timeout=30) as response:
        text = response.read().decode()
    assert 'pvc_nodes{state="run"} 2.0' in text and "pvc_api_request_seconds" in text
    assert 'pvc_fences{result="confirmed"} 0.0' in text and 'pvc_fences{result="failed"} 0.0' in text
    for path in ("/node", "/vm", "/cluster", "/plugins", "/openapi.json"):
        assert api.call("GET", path, key=None)[0] == 401, path
        assert api.call("GET", path, key="wrong")[0] == 401, path
        assert api.call("GET", path)[0] == 200, path


def test_answers_match_the_client_library(api: Api, running: Cluster) -> None:
    plugins = api.call("GET", "/plugins")[1]
    on_nodes = running.plugins_by_node()
    assert {p["name"]: {k: p[k] for k in ("version", "hooks", "nodes")} for p in plugins} == on_nodes
    assert all(p["api"] is None for p in plugins)  # this pvcapid loaded no plugin of its own
    assert api.call("GET", "/node")[1] == json.loads(json.dumps([v.to_dict() for v in running.nodes()]))
    assert api.call("GET", "/cluster")[1]["primary"] == running.primary()


def test_a_vm_lifecycle_through_the_api(api: Api, running: Cluster) -> None:
    status, vm, _ = api.call("POST", "/vm", {"xml": domain_xml("web"), "target": "hv1", "tags": ["t"]})
    assert status == 201 and vm["name"] == "web" and vm["state"] == "stop"
    status, task, headers = api.call("POST", "/vm/web/state", {"state": "start"})
    assert status == 202 and headers["Location"] == task["url"]
    done = wait_until(
        lambda: (t := api.call("GET", f"/tasks/{task['id']}")[1])["status"] != "running" and t, what="the task"
    )
    assert done["status"] == "succeeded"
    status, vm, _ = api.call("POST", "/vm/web/migrate", {"target": "hv2", "wait": True})
    assert status == 200 and vm["node"] == "hv2" and vm["observed"] == "running"
    assert [v["name"] for v in api.call("GET", "/vm?tag=t")[1]] == ["web"]
    status, err, _ = api.call("POST", "/vm", {"xml": domain_xml("web")})
    assert status == 409 and "already exists" in err["message"]
    status, err, _ = api.call("DELETE", "/vm/web")
    assert status == 400 and "stop it before removing it" in err["message"]


def test_errors_name_the_field_on_every_mutating_endpoint(api: Api, running: Cluster) -> None:
    from pvc_api.endpoints import api as registry

    for endpoint in registry.endpoints:
        if endpoint.body is None:
            continue
        path = endpoint.path.replace("<name>", "hv1" if endpoint.tag == "nodes" else "nope")
        path = path.replace("<node>", "hv1")
        status, err, headers = api.call(endpoint.method, path, {"unexpected_field": 1})
        assert status == 400, (endpoint.method, path, err)
        required = {name for name, field in endpoint.body.model_fields.items() if field.is_required()}
        assert err["field"] in {"unexpected_field", *required}, (endpoint.path, err)
        assert err["request_id"] == headers["X-Request-Id"]
        status, err, _ = api.call(endpoint.method, path, raw=b"{not json")
        assert status == 400 and "not valid JSON" in err["message"], (endpoint.method, path, err)


def test_unknown_things_are_404_with_a_message(api: Api, running: Cluster) -> None:
    status, err, _ = api.call("GET", "/vm/nothing")
    assert status == 404 and err["message"] == "no VM named 'nothing' in this cluster"
    assert api.call("GET", "/no/such/path")[0] == 404
    assert api.call("GET", "/tasks/unknown")[0] == 404


def test_the_openapi_document_describes_every_endpoint(api: Api, running: Cluster) -> None:
    from pvc_api.endpoints import api as registry

    spec = api.call("GET", "/openapi.json")[1]
    assert spec["openapi"].startswith("3.")
    for endpoint in registry.endpoints:
        path = "/api/v1" + ("" if endpoint.path == "/" else endpoint.openapi_path)
        assert endpoint.method.lower() in spec["paths"][path], path
    with urllib.request.urlopen(api.url + "/docs", timeout=30) as response:
        assert "openapi.json" in response.read().decode()


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "api.crt", directory / "api.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate(tmp_path: Path, zk_hosts: str) -> None:
    cert, key = self_signed(tmp_path)
    process, port = start_api(tmp_path, zk_hosts, tls={"cert": str(cert), "key": str(key)})
    try:
        context = ssl.create_default_context(cafile=str(cert))
        api = Api(f"https://127.0.0.1:{port}/api/v1", context)
        assert api.call("GET", "", key=None)[0] == 200
        assert api.call("GET", "/node")[0] == 200
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is not served
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1", timeout=10)
        untrusted = Api(f"https://127.0.0.1:{port}/api/v1", ssl.create_default_context())
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.call("GET", "", key=None)
    finally:
        stop_api(process)


def test_two_pvcapids_of_one_user_share_no_gunicorn_control_socket(tmp_path: Path, zk_hosts: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # where gunicorn's per-user control socket would be: ~/.gunicorn/gunicorn.ctl without XDG_RUNTIME_DIR
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    started = []
    try:
        for name in ("first", "second"):
            (tmp_path / name).mkdir()
            started.append(start_api(tmp_path / name, zk_hosts, env=env))
        for _, port in started:
            assert Api(f"http://127.0.0.1:{port}/api/v1").call("GET", "", key=None)[0] == 200
        assert not (home / ".gunicorn").exists()
    finally:
        for process, _ in started:
            stop_api(process)


def test_a_plugin_contributes_api_routes_behind_the_key(tmp_path: Path, zk_hosts: str) -> None:
    process, port = start_api(tmp_path, zk_hosts, plugins=["template"])
    try:
        api = Api(f"http://127.0.0.1:{port}/api/v1")
        status, body, _ = api.call("GET", "/plugins/template/hello")
        assert (status, body) == (200, {"greeting": "hello", "nodes": 0})  # its section's default; no nodes
        status, err, _ = api.call("GET", "/plugins/template/hello", key=None)
        assert status == 401 and err["message"] == "a valid X-Api-Key header is required"
        # GET /plugins lists what pvcapid itself loaded, with its routes (no node runs it here)
        listed = {p["name"]: p for p in api.call("GET", "/plugins")[1]}
        template = listed["template"]
        assert template["nodes"] == [] and template["api"]["routes"] == ["/api/v1/plugins/template"]
        assert "pvc_api_blueprints" in template["api"]["hooks"] and template["api"]["version"]
    finally:
        stop_api(process)


def test_the_vm_listing_shows_a_change_at_once(api: Api, running: Cluster) -> None:
    running.vms.define(domain_xml("listed"))
    assert [v["tags"] for v in api.call("GET", "/vm")[1]] == [[]]
    running.vms.tag("listed", add=["web"])
    assert [v["tags"] for v in api.call("GET", "/vm")[1]] == [["web"]]
    assert api.call("GET", "/vm?tag=web")[1][0]["name"] == "listed" and api.call("GET", "/vm?tag=db")[1] == []


def test_the_primary_cannot_be_fenced_and_nothing_is_asked(api: Api, running: Cluster) -> None:
    primary = running.primary()
    status, body, _ = api.call("POST", f"/node/{primary}/fence", {"wait": False})
    assert status == 400 and "is the primary coordinator and cannot fence itself" in body["message"]
    assert running.zk.children(paths.FENCE_REQUESTS) == []
