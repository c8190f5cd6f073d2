"""The node config: valid files load; unknown keys and wrong types are refused with file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from pvc_core.config import ConfigSection, read_config_file, validate_core, validate_sections
from pvc_core.errors import ConfigError

VALID = """
node: hv1
coordinators: [hv1, hv2, hv3]
zookeeper:
  hosts: 10.0.0.1:2181,10.0.0.2:2181
timers:
  dead_grace: 8.5
plugins:
  enable: [template]
drivers:
  dns: hostsfile
  network: [evpn]
"""


class Greeter(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    greeting: str = "hello"
    repeat: int = 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pvcd.yaml"
    path.write_text(text)
    return path


def load(path: Path, sections: list[ConfigSection] | None = None) -> object:
    raw = read_config_file(path)
    core = validate_core(path, raw)
    validate_sections(path, raw, sections or [])
    return core


def test_a_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    core = validate_core(path, read_config_file(path))
    assert core.node == "hv1"
    assert core.is_coordinator
    assert core.timers.dead_grace == 8.5
    assert core.timers.keepalive == 5.0
    assert core.zookeeper.session_timeout == 3.0
    assert core.drivers.network == ["evpn"]


def test_a_chroot_in_the_zookeeper_hosts_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("10.0.0.2:2181", "10.0.0.2:2181/pvc"))
    assert validate_core(path, read_config_file(path)).zookeeper.hosts.endswith("/pvc")


def test_an_unknown_core_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("  dead_grace: 8.5", "  dead_grace: 8.5\n  dead_grase: 3"))
    with pytest.raises(ConfigError, match=r"pvcd.yaml: timers.dead_grase: unknown key"):
        load(path)


def test_a_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("dead_grace: 8.5", "dead_grace: soon"))
    with pytest.raises(ConfigError, match=r"timers.dead_grace: .*'soon'"):
        load(path)


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "node: hv1\ncoordinators: [hv1]\n")
    with pytest.raises(ConfigError, match=r"zookeeper: required key is missing"):
        load(path)


def test_a_bad_node_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("node: hv1", "node: HV_1"))
    with pytest.raises(ConfigError, match=r"node: .*not a valid node name"):
        load(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "node: hv1\ncoordinators: [hv1\n")
    with pytest.raises(ConfigError, match=r"pvcd.yaml: line \d+: invalid YAML"):
        read_config_file(path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such config file .*--config"):
        read_config_file(tmp_path / "absent.yaml")


def test_errors_are_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("dead_grace: 8.5", "dead_grace: soon\n  keepalive: never"))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "\n" not in str(caught.value)
    assert "dead_grace" in str(caught.value) and "keepalive" in str(caught.value)


def test_a_plugin_section_gets_its_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    sections = validate_sections(path, read_config_file(path), [ConfigSection("greeter", Greeter)])
    assert sections["greeter"] == Greeter(greeting="hello", repeat=1)


def test_a_plugin_section_is_validated(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "greeter:\n  repeat: twice\n")
    with pytest.raises(ConfigError, match=r"greeter.repeat: .*'twice'"):
        load(path, [ConfigSection("greeter", Greeter)])


def test_a_section_no_loaded_plugin_declares_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "storage_ceph:\n  pool: vms\n")
    with pytest.raises(ConfigError, match=r"storage_ceph: unknown key \(neither a core setting nor the section"):
        load(path)


def test_a_plugin_cannot_claim_a_core_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    with pytest.raises(ConfigError, match=r"'timers' is declared twice"):
        load(path, [ConfigSection("timers", Greeter)])
