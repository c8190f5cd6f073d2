"""Every ``pvc`` command over both transports, a direct ZooKeeper connection and the HTTP API, with the
same output (timings and generated UUIDs aside)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY, start_api, stop_api
from support import Nodes, compute_node, compute_nodes_ready, domain_xml, run_pvc, wait_until

from pvc_core.client import Cluster

TIMING = re.compile(r"\(\d+\.\d+s\)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLOCK = re.compile(r"\d{2}:\d{2}:\d{2}")


def normal(text: str) -> str:
    return CLOCK.sub("HH:MM:SS", UUID.sub("UUID", TIMING.sub("(Ns)", text)))


@pytest.fixture
def transports(cluster: Cluster, zk_hosts: str, nodes: Nodes, tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    for name in ("hv1", "hv2"):
        compute_node(nodes, name, zk_hosts, ["hv1", "hv2"])
    wait_until(compute_nodes_ready(cluster, 2), what="two nodes")
    process, port = start_api(tmp_path, zk_hosts)
    base = {"PVC_CONFIG_DIR": str(tmp_path / "config")}
    yield {
        "zookeeper": base | {"PVC_CONNECTION": zk_hosts},
        "api": base | {"PVC_CONNECTION": f"http://127.0.0.1:{port}", "PVC_API_KEY": KEY},
    }
    stop_api(process)


READS = [
    ("node", "list"),
    ("node", "list", "-o", "json"),
    ("node", "info", "hv1"),
    ("node", "info", "hv9"),
    ("cluster", "status", "-o", "json"),
    ("plugin", "list", "-o", "json"),
    ("vm", "list"),
    ("vm", "list", "-o", "json"),
    ("vm", "info", "nothing"),
]


def test_read_commands_print_the_same_over_both_transports(transports: dict[str, dict[str, str]]) -> None:
    def run(command: tuple[str, ...], transport: str) -> tuple[int, str, str]:
        result = run_pvc(*command, env=transports[transport])
        return result.returncode, normal(result.stdout), result.stderr.strip()

    for command in READS:
        # the nodes rewrite their load and free memory every few seconds: the API's answer must equal a
        # direct read taken just before or just after it
        before, remote, after = run(command, "zookeeper"), run(command, "api"), run(command, "zookeeper")
        assert remote in (before, after), (command, remote, before)


def lifecycle(env: dict[str, str], xml: Path) -> list[tuple[int, str, str]]:
    steps = [
        ("vm", "define", str(xml), "--target", "hv1", "--tag", "web"),
        ("vm", "list"),
        ("vm", "start", "life", "--wait"),
        ("vm", "info", "life"),
        ("vm", "tag", "add", "life", "blue"),
        ("vm", "meta", "life", "--autostart"),
        ("vm", "migrate", "life", "--target", "hv2", "--wait"),
        ("vm", "unmigrate", "life", "--wait"),
        ("vm", "dump", "life"),
        ("vm", "start", "life", "--target", "hv2"),
        ("vm", "remove", "life", "--yes"),
        ("vm", "stop", "life", "--wait"),
        ("vm", "rename", "life", "renamed"),
        ("vm", "remove", "renamed", "--yes"),
        ("node", "flush", "hv2", "--wait"),
        ("node", "ready", "hv2", "--wait"),
        ("cluster", "maintenance", "on"),
        ("cluster", "maintenance", "off"),
    ]
    results = []
    for step in steps:
        result = run_pvc(*step, env=env)
        results.append(
            (
                result.returncode,
                normal(result.stdout),
                result.stderr.strip().splitlines()[-1:] and normal(result.stderr.strip().splitlines()[-1])
                if result.returncode
                else "",
            )
        )
    return results


def test_a_vm_lifecycle_prints_the_same_over_both_transports(
    transports: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    xml = tmp_path / "life.xml"
    xml.write_text(domain_xml("life"))
    direct = lifecycle(transports["zookeeper"], xml)
    remote = lifecycle(transports["api"], xml)
    for step, (a, b) in enumerate(zip(direct, remote, strict=True)):
        assert b == a, f"step {step}: {a} != {b}"
    assert [code for code, _, _ in direct].count(0) == len(direct) - 2  # remove-while-running, start elsewhere
