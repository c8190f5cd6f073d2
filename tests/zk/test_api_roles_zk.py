"""API keys with roles against a real pvcapid: every endpoint of the served OpenAPI document tried with each
role (allowed, or 403 before anything happens), keys made and removed with ``pvc api key``, the audit log
of every mutating request (``pvc cluster audit``), failed sign-ins limited per address, and no key or hash
in any answer or log line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from api_support import KEY, Api
from support import run_pvc, wait_until

from pvc_core.apikeys import allowed
from pvc_core.client import Cluster

PREFIX = "/api/v1"


def make_key(api: Api, name: str, role: str) -> str:
    status, made, _ = api.call("POST", "/api-keys", {"name": name, "role": role})
    assert status == 201, made
    assert made["role"] == role and "hash" not in made
    return str(made["key"])


def test_every_endpoint_with_each_role_is_allowed_or_403(api: Api, running: Cluster) -> None:
    keys = {"admin": KEY, "operator": make_key(api, "ops", "operator"), "read": make_key(api, "ro", "read")}
    status, document, _ = api.call("GET", "/openapi.json")
    assert status == 200
    tried = 0
    for template, operations in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "100", template).removeprefix(PREFIX) or "/"
        for method in operations:
            for role, key in keys.items():
                status, body, _ = api.call(method.upper(), path, {} if method != "get" else None, key=key)
                expected = allowed(role, method.upper(), path)
                assert (status == 403) is not expected, (role, method, path, status, body)
                if status == 403:
                    assert body["error"] == "forbidden" and f"(role {role}) may not" in body["message"]
                tried += 1
    assert tried > 100  # every operation, three times
    assert running.api_keys.list()  # nothing an operator or reader tried changed the keys


def test_keys_made_and_removed_with_the_cli_work_at_once_and_stop_within_seconds(
    api: Api, running: Cluster, tmp_path: Path
) -> None:
    made = run_pvc("-c", running.zk.hosts, "api", "key", "add", "robot", "--role", "operator")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert api.call("GET", "/vm", key=key)[0] == 200
    assert api.call("POST", "/vm", {"xml": "<x/>"}, key=key)[0] == 400  # allowed: refused for the XML only
    assert api.call("PUT", "/cluster/maintenance", {"on": True}, key=key)[0] == 403
    listed = json.loads(run_pvc("-c", running.zk.hosts, "api", "key", "list", "-o", "json").stdout)
    assert [(k["name"], k["role"]) for k in listed] == [("robot", "operator")]
    assert key not in json.dumps(listed) and "pbkdf2" not in json.dumps(listed)
    again = run_pvc("-c", running.zk.hosts, "api", "key", "add", "robot", "--role", "read")
    assert again.returncode != 0 and "an API key named 'robot' exists already" in again.stderr
    bad = run_pvc("-c", running.zk.hosts, "api", "key", "add", "Robot!", "--role", "read")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    removed = run_pvc("-c", running.zk.hosts, "api", "key", "remove", "robot", "--yes")
    assert removed.returncode == 0, removed.stderr
    wait_until(lambda: api.call("GET", "/vm", key=key)[0] == 401, timeout=10, what="the removed key refused")
    log = (tmp_path / "pvcapid.log").read_text()
    assert key not in log and "pbkdf2_sha256$" not in log


def test_every_mutating_request_is_in_the_audit_log(api: Api, running: Cluster) -> None:
    reader = make_key(api, "auditor", "read")
    api.call("PUT", "/cluster/maintenance", {"on": False})
    api.call("POST", "/vm", {"xml": "<x/>"}, key=reader)  # refused: recorded all the same
    api.call("DELETE", "/vm/nothing", key="not-a-key")
    api.call("GET", "/vm")  # reading is not recorded
    status, entries, _ = api.call("GET", "/cluster/audit?lines=10")
    assert status == 200
    seen = [(e["key"], e["method"], e["path"], e["status"]) for e in entries]
    assert seen[-3:] == [
        ("tests", "PUT", f"{PREFIX}/cluster/maintenance", 200),
        ("auditor", "POST", f"{PREFIX}/vm", 403),
        (None, "DELETE", f"{PREFIX}/vm/nothing", 401),
    ]
    assert all(e["source"] == "127.0.0.1" and e["request_id"] for e in entries[-3:])
    shown = run_pvc("-c", running.zk.hosts, "cluster", "audit", "-n", "3")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert len(lines) == 3 and "auditor" in lines[1] and "POST" in lines[1] and "403" in lines[1]


def test_an_address_that_fails_to_sign_in_ten_times_is_refused_for_a_while(api: Api, running: Cluster) -> None:
    for _ in range(10):
        assert api.call("GET", "/vm", key="guess")[0] == 401
    status, body, _ = api.call("GET", "/vm")  # even with the right key, for now
    assert status == 429 and body["error"] == "too_many_attempts"
    assert re.match(r"^too many failed sign-ins from 127\.0\.0\.1; try again in \d+s$", body["message"])
