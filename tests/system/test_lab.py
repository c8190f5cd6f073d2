"""``pvc lab up/status/down``: a real cluster in network namespaces, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import run_pvc

from pvc_lab.lab import Lab, LabSettings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")


@pytest.fixture
def lab_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A lab apart from an operator's: own prefix, subnet, ports, state dir and connection store."""
    env = {
        "PVC_LAB_DIR": str(tmp_path / "lab"),
        "PVC_LAB_PREFIX": "pvct",
        "PVC_LAB_SUBNET": "10.74.0.0/24",
        "PVC_LAB_ZK_PORT": "25181",
        "PVC_LAB_API_PORT": "25370",
        "PVC_CONFIG_DIR": str(tmp_path / "config"),
        "PVC_CONNECTION": "",
    }
    yield env
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        Lab(LabSettings.from_env()).down(progress=lambda _line: None)  # whatever the test did
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def lab_for(env: dict[str, str]) -> Lab:
    settings = LabSettings(
        state_dir=Path(env["PVC_LAB_DIR"]),
        prefix=env["PVC_LAB_PREFIX"],
        subnet=env["PVC_LAB_SUBNET"],
        zookeeper_port=int(env["PVC_LAB_ZK_PORT"]),
        api_port=int(env["PVC_LAB_API_PORT"]),
    )
    return Lab(settings)


def nothing_left(lab: Lab) -> bool:
    left = lab.leftovers()
    return not any(left.values())


def test_lab_up_runs_three_nodes_with_one_primary_and_down_leaves_nothing(lab_env: dict[str, str]) -> None:
    up = run_pvc("lab", "up", env=lab_env, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "lab up in" in up.stdout
    nodes = json.loads(run_pvc("-c", "lab", "node", "list", "-o", "json", env=lab_env).stdout)
    assert [n["name"] for n in nodes] == ["hv1", "hv2", "hv3"]
    assert all(n["daemon_state"] == "run" and n["alive"] for n in nodes)
    assert sum(n["coordinator_state"] == "primary" for n in nodes) == 1
    # the lab's API answers the same over its own connection
    over_api = run_pvc("-c", "lab-api", "node", "list", "-o", "json", env=lab_env)
    assert over_api.returncode == 0, over_api.stderr
    assert [(n["name"], n["daemon_state"]) for n in json.loads(over_api.stdout)] == [
        (n["name"], n["daemon_state"]) for n in nodes
    ]
    status = json.loads(run_pvc("lab", "status", "-o", "json", env=lab_env).stdout)
    assert status["up"] and status["switch_present"]
    assert status["api"]["answers"] and status["api"]["url"] == "http://127.0.0.1:25370"
    assert all(m["serving"] for m in status["zookeeper"])
    assert all(n["netns_present"] and n["pvcd_pid"] for n in status["nodes"])
    lab = lab_for(lab_env)
    # each pvcd really runs inside its own namespace
    for node in lab.settings.node_names():
        pid = lab.node_pid(node)
        assert pid is not None
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    down = run_pvc("lab", "down", env=lab_env, timeout=120)
    assert down.returncode == 0, down.stderr
    assert nothing_left(lab), lab.leftovers()
    connections = json.loads(run_pvc("connection", "list", "-o", "json", env=lab_env).stdout)
    assert connections == []  # the lab's connection went with it


def test_lab_down_cleans_up_after_a_crashed_lab(lab_env: dict[str, str]) -> None:
    assert run_pvc("lab", "up", env=lab_env, timeout=180).returncode == 0
    lab = lab_for(lab_env)
    # a crash half-way: one pvcd and one ZooKeeper member killed, the manifest lost
    hv2 = lab.node_pid("hv2")
    assert hv2 is not None
    os.kill(hv2, signal.SIGKILL)
    lab.zookeeper.stop([1], kill=True)
    lab.manifest.unlink()
    down = run_pvc("lab", "down", env=lab_env, timeout=120)
    assert down.returncode == 0, down.stderr
    assert nothing_left(lab), lab.leftovers()
