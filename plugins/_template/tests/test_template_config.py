"""The ``template`` config section: defaults, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pvc_core.config import validate_sections
from pvc_core.errors import ConfigError
from pvc_plugin_template import plugin
from pvc_plugin_template.config import TemplateConfig

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    config = TemplateConfig.model_validate({})
    assert config.greeting == "hello"
    assert config.hosts_file == "/var/lib/pvc/template-hosts"


def test_values() -> None:
    config = TemplateConfig.model_validate({"greeting": "hi", "hosts_file": "/srv/hosts"})
    assert (config.greeting, config.hosts_file) == ("hi", "/srv/hosts")


def test_rejects_unknown_key() -> None:
    with pytest.raises(ValidationError) as raised:
        TemplateConfig.model_validate({"greting": "hi"})
    assert [error["type"] for error in raised.value.errors()] == ["extra_forbidden"]


def test_rejects_wrong_type() -> None:
    with pytest.raises(ValidationError):
        TemplateConfig.model_validate({"greeting": 42})


@pytest.mark.parametrize("hosts_file", ["hosts", "var/lib/hosts", "/var/lib/pvc/"])
def test_rejects_a_hosts_file_that_is_not_an_absolute_file_path(hosts_file: str) -> None:
    with pytest.raises(ValidationError, match="not an absolute path to a file"):
        TemplateConfig.model_validate({"hosts_file": hosts_file})


def test_section_as_pvcd_validates_it() -> None:
    sections = plugin.pvc_config_sections()
    assert [section.name for section in sections] == ["template"]
    path = Path("/etc/pvc/pvcd.yaml")
    validated = validate_sections(path, {"node": "n1", "template": {"greeting": "hi"}}, sections)
    assert validated["template"] == TemplateConfig(greeting="hi")
    assert validate_sections(path, {}, sections)["template"] == TemplateConfig()
    with pytest.raises(ConfigError, match=r"template\.colour: unknown key"):
        validate_sections(path, {"template": {"colour": "blue"}}, sections)
