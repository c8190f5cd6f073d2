"""``pvc`` without a cluster: connections, broken plugin commands, lazy imports, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import PVC, run_pvc


@pytest.fixture
def config_dir(tmp_path: Path) -> dict[str, str]:
    return {"PVC_CONFIG_DIR": str(tmp_path), "PVC_CONNECTION": ""}


def test_connections_can_be_added_listed_defaulted_and_removed(config_dir: dict[str, str]) -> None:
    assert run_pvc("connection", "add", "one", "--zookeeper", "10.0.0.1:2181", env=config_dir).returncode == 0
    assert (
        run_pvc("connection", "add", "two", "--zookeeper", "10.0.0.2:2181,10.0.0.3:2181", env=config_dir).returncode
        == 0
    )
    listed = json.loads(run_pvc("connection", "list", "-o", "json", env=config_dir).stdout)
    assert {c["name"]: c["default"] for c in listed} == {"one": True, "two": False}
    assert run_pvc("connection", "default", "two", env=config_dir).returncode == 0
    listed = json.loads(run_pvc("connection", "list", "-o", "json", env=config_dir).stdout)
    assert {c["name"]: c["default"] for c in listed} == {"one": False, "two": True}
    assert run_pvc("connection", "remove", "two", env=config_dir).returncode == 0
    listed = json.loads(run_pvc("connection", "list", "-o", "json", env=config_dir).stdout)
    assert [c["name"] for c in listed] == ["one"]


def test_a_bad_zookeeper_address_is_refused(config_dir: dict[str, str]) -> None:
    result = run_pvc("connection", "add", "bad", "--zookeeper", "no-port-here", env=config_dir)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "pvc: error: 'no-port-here' is not a ZooKeeper address list (host:port[,host:port...])"
    ]


def test_no_connection_is_a_one_line_error(config_dir: dict[str, str]) -> None:
    result = run_pvc("node", "list", env=config_dir)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no connection chosen" in result.stderr


def test_plugin_list_without_a_connection_lists_what_is_installed_here(config_dir: dict[str, str]) -> None:
    result = run_pvc("plugin", "list", "-o", "json", env=config_dir)
    assert result.returncode == 0
    assert result.stderr.strip().splitlines() == [
        "pvc: note: no connection chosen, so the nodes were not asked what they loaded"
    ]
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["builtin.vm-manager"]["installed"] == "builtin"
    assert listed["testplugin"]["installed"] == "pvc-test-plugin"
    # listed from its entry point, never imported (importing it fails)
    assert listed["brokenplugin"]["installed"] == "pvc-test-plugin"
    assert all(p["nodes"] == [] for p in listed.values())


def test_an_unreachable_cluster_is_a_one_line_error(config_dir: dict[str, str]) -> None:
    result = run_pvc("-c", "127.0.0.1:1", "node", "list", env=config_dir | {"PVC_TIMEOUT": "1"})
    assert result.returncode == 8  # Unavailable
    # exactly one line: kazoo's "Connection dropped" warnings for every retry never reach the user
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pvc: error: cannot reach ZooKeeper at 127.0.0.1:1")


def test_debug_shows_the_libraries_log_lines(config_dir: dict[str, str]) -> None:
    result = run_pvc("--debug", "-c", "127.0.0.1:1", "node", "list", env=config_dir | {"PVC_TIMEOUT": "1"})
    assert "WARNING kazoo.client: Connection dropped" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("pvc: error: cannot reach ZooKeeper at 127.0.0.1:1")


def test_a_plugin_command_that_fails_to_import_shows_as_broken(config_dir: dict[str, str]) -> None:
    listing = run_pvc("--help", env=config_dir)
    assert listing.returncode == 0
    assert "brokencmd" in listing.stdout and "(broken: ImportError" in listing.stdout
    used = run_pvc("brokencmd", env=config_dir)
    assert used.returncode == 1
    assert "command 'brokencmd' from pvc-test-plugin is broken: ImportError" in used.stderr


def test_a_plugin_command_runs_next_to_a_broken_one(config_dir: dict[str, str]) -> None:
    result = run_pvc("testplugin", "hello", env=config_dir)
    assert result.returncode == 0
    assert result.stdout.strip() == "hello from testplugin"


def test_pvc_help_imports_no_zookeeper_client() -> None:
    probe = (
        "import sys\n"
        "from pvc_cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('kazoo', 'pydantic', 'yaml', 'stevedore') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_shell_completion_script_is_generated() -> None:
    result = subprocess.run([PVC], capture_output=True, text=True, env={"_PVC_COMPLETE": "bash_source"}, timeout=30)
    assert result.returncode == 0
    assert "_PVC_COMPLETE=bash_complete" in result.stdout


def test_an_unknown_command_exits_non_zero_with_one_reason(config_dir: dict[str, str]) -> None:
    result = run_pvc("frobnicate", env=config_dir)
    assert result.returncode == 2
    assert "No such command 'frobnicate'" in result.stderr
