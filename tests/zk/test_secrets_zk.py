"""No secret leaves where it is kept: on a secured cluster with BMC passwords, API keys and ZooKeeper
credentials in use, every answer of the API (every GET of its OpenAPI document), what ``pvc`` prints and
every log line of pvcd and pvcapid are searched for each secret, and none is found."""

from __future__ import annotations

import json
import re
from pathlib import Path

from api_support import KEY, Api
from support import Nodes, compute_nodes_ready, private_hypervisor, run_pvc, wait_until

from pvc_api.testing import start_api, stop_api
from pvc_core.client import Cluster
from pvc_core.testing.security import remove_secured_tree
from pvc_core.zk.security import make_credentials

BMC_PASSWORD = "bmc-Pa55word-that-must-not-leak"


def test_no_secret_in_any_answer_output_or_log(zk_hosts: str, nodes: Nodes, tmp_path: Path) -> None:
    credentials = make_credentials(tmp_path / "credentials")
    node_file = tmp_path / "credentials" / "node.credential"
    with Cluster.connect(zk_hosts, credential=credentials["node"]) as admin:
        admin.secure(credentials)
    try:
        for name in ("hv1", "hv2"):
            nodes.start(
                name,
                zk_hosts,
                ["hv1", "hv2"],
                zookeeper={"hosts": zk_hosts, "session_timeout": 2.0, "credential_file": str(node_file)},
                drivers={"compute": "libvirt", "fencing": "ipmi"},
                compute_libvirt={"uri": private_hypervisor(tmp_path, name)},
                fencing_ipmi={"host": "127.0.0.1", "port": 19997, "password": BMC_PASSWORD, "timeout": 1.0},
            )
        process, port = start_api(tmp_path, zk_hosts, sections={"zookeeper_credential_file": str(node_file)})
        try:
            with Cluster.connect(zk_hosts, credential=credentials["operator"]) as cluster:
                wait_until(compute_nodes_ready(cluster, 2), what="two nodes")
            api = Api(f"http://127.0.0.1:{port}/api/v1")
            status, made, _ = api.call("POST", "/api-keys", {"name": "robot", "role": "read"})
            assert status == 201
            seen: list[str] = []
            _, document, _ = api.call("GET", "/openapi.json")
            for template, operations in document["paths"].items():
                if "get" in operations:
                    path = re.sub(r"\{[^}]+\}", "hv1", template).removeprefix("/api/v1") or "/"
                    seen.append(json.dumps(api.call("GET", path)[1]))
            env = {
                "PVC_CONNECTION": zk_hosts,
                "PVC_ZOOKEEPER_CREDENTIAL_FILE": str(tmp_path / "credentials" / "operator.credential"),
            }
            for words in (
                ["node", "info", "hv1", "-o", "json"],
                ["node", "list"],
                ["cluster", "status", "-o", "json"],
                ["api", "key", "list", "-o", "json"],
                ["plugin", "list", "-o", "json"],
                ["cluster", "audit", "-o", "json"],
            ):
                result = run_pvc(*words, env=env)
                assert result.returncode == 0, (words, result.stderr)
                seen.append(result.stdout + result.stderr)
        finally:
            stop_api(process)
        seen.append((tmp_path / "pvcapid.log").read_text())
        seen += [node.log() for node in nodes.started]
        secrets = [BMC_PASSWORD, KEY, made["key"], "pbkdf2_sha256$", *(c.password for c in credentials.values())]
        for text in seen:
            for secret in secrets:
                assert secret not in text, f"a secret ({secret[:6]}...) appears in: {text[:300]}"
        assert len(seen) > 20  # every GET endpoint, every command, every log
    finally:
        nodes.stop_all()  # before their tree goes
        remove_secured_tree(zk_hosts, credentials["node"])
