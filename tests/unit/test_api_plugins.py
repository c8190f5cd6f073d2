"""What a plugin gets in pvcapid: its section of pvcapid.yaml validated like pvcd's, an ApiContext passed to
``pvc_api_blueprints``, its routes in the served OpenAPI document; and the keys of a plugin's data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Blueprint, jsonify

from pvc_api.app import create_app, plugin_routes
from pvc_api.endpoints import api as registry
from pvc_api.keys import KeyRing, hash_key
from pvc_api.openapi import document
from pvc_api.server import load_all, main
from pvc_cli.remote import RemoteCluster
from pvc_core import hookimpl
from pvc_core.api_context import ApiContext
from pvc_core.client import Cluster
from pvc_core.client.plugin_data import PluginData, check_key
from pvc_core.errors import ConfigError, InvalidRequest, NotFound
from pvc_core.plugins.hooks import Hooks
from pvc_core.plugins.manager import PluginSet
from pvc_core.zk.session import ZkSession
from pvc_plugin_template import plugin as template
from pvc_plugin_template.config import TemplateConfig

KEY = "unit-test-key"


def write_config(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "pvcapid.yaml"
    path.write_text(json.dumps({"zookeeper": "127.0.0.1:2181"} | extra))
    return path


# -- pvcapid.yaml -------------------------------------------------------------------------------------------


def test_pvcapid_validates_the_section_of_a_plugin_it_enables(tmp_path: Path) -> None:
    loaded = load_all(write_config(tmp_path, plugins={"enable": ["template"]}, template={"greeting": "hi"}))
    assert loaded.sections == {"template": TemplateConfig(greeting="hi")}


def test_a_section_left_out_has_its_defaults(tmp_path: Path) -> None:
    loaded = load_all(write_config(tmp_path, plugins={"enable": ["template"]}))
    assert loaded.sections == {"template": TemplateConfig()}


def test_a_wrong_key_in_a_plugin_section_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, plugins={"enable": ["template"]}, template={"colour": "blue"})
    with pytest.raises(ConfigError, match=r"pvcapid.yaml: template\.colour: unknown key$"):
        load_all(path)


@pytest.mark.parametrize(
    "extra",
    [
        {"colour": "blue"},  # nobody's
        {"template": {"greeting": "hi"}},  # a plugin pvcapid does not enable
        {"ha": {}},  # a builtin's section of pvcd.yaml: no use in pvcapid
    ],
    ids=["unknown", "not-enabled", "builtin"],
)
def test_a_key_that_is_no_enabled_plugins_section_is_refused(tmp_path: Path, extra: dict[str, Any]) -> None:
    (key,) = extra
    with pytest.raises(ConfigError, match=rf": {key}: unknown key \(neither a core setting nor the section"):
        load_all(write_config(tmp_path, **extra))


def test_pvcapid_stops_with_one_line_on_a_bad_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, plugins={"enable": ["template"]}, template={"greeting": 42})
    assert main(["--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"pvcapid: error: {path}: template.greeting: ")


# -- the ApiContext -----------------------------------------------------------------------------------------


@dataclass
class FakeCluster:
    """Stands in for pvc_core.client.Cluster: only what the template's route calls."""

    names: list[str] = field(default_factory=lambda: ["hv1", "hv2", "hv3"])

    def nodes(self) -> list[str]:
        return self.names


def context(greeting: str = "hi") -> ApiContext:
    return ApiContext(cluster=cast("Cluster", FakeCluster()), sections={"template": TemplateConfig(greeting=greeting)})


class NoArgument:
    """A plugin written before the hook had an argument: still called (pluggy passes what it declares)."""

    @hookimpl
    def pvc_api_blueprints(self) -> list[Any]:
        blueprint = Blueprint("old", __name__)

        @blueprint.get("/ping")
        def ping() -> Any:
            return jsonify({"pong": True})

        return [blueprint]


def test_every_implementation_gets_the_one_context_or_nothing_when_it_declares_none() -> None:
    plugins = PluginSet()
    plugins.register(template, "template", "0")
    plugins.register(NoArgument(), "old", "0")
    found = dict(Hooks(plugins.pm).api_blueprints(context()))
    assert [bp.name for bp in found["template"]] == ["template"] and [bp.name for bp in found["old"]] == ["old"]


def test_api_config_names_a_section_nobody_declared() -> None:
    with pytest.raises(NotFound, match="pvcapid has no config section 'acme'"):
        context().config("acme")


def app_with_template() -> Any:
    return create_app(
        cast("Cluster", FakeCluster()),
        KeyRing({"unit": hash_key(KEY, iterations=1)}),
        registry,
        template.pvc_api_blueprints(context("hi")),
    )


def test_the_template_route_answers_from_its_section_and_the_cluster() -> None:
    reply = app_with_template().test_client().get("/api/v1/plugins/template/hello", headers={"X-Api-Key": KEY})
    assert (reply.status_code, reply.get_json()) == (200, {"greeting": "hi", "nodes": 3})


# -- OpenAPI ------------------------------------------------------------------------------------------------


def served_document() -> dict[str, Any]:
    reply = app_with_template().test_client().get("/api/v1/openapi.json", headers={"X-Api-Key": KEY})
    assert reply.status_code == 200
    return cast("dict[str, Any]", reply.get_json())


def test_a_plugin_route_is_in_the_served_document() -> None:
    operation = served_document()["paths"]["/api/v1/plugins/template/hello"]["get"]
    assert operation["summary"] == "The template's greeting, and how many nodes the cluster has."
    assert operation["security"] == [{"ApiKey": []}]
    assert {"200", "401", "4XX"} <= set(operation["responses"])
    assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_path_variables_of_plugin_routes_are_parameters() -> None:
    blueprint = Blueprint("acme", __name__)

    @blueprint.route("/volume/<pool>/<int:size>", methods=["GET", "PUT"])
    def volume(pool: str, size: int) -> Any:
        """A volume of a pool.

        Longer words."""
        return jsonify({})

    app = create_app(cast("Cluster", None), KeyRing({}), registry, [blueprint])
    served = app.test_client().get("/api/v1/docs")
    assert "/api/v1/plugins/acme/volume/{pool}/{size}" in served.get_data(as_text=True)
    paths = document(registry, plugin_routes(app, ["acme"]))["paths"]
    operations = paths["/api/v1/plugins/acme/volume/{pool}/{size}"]
    assert sorted(operations) == ["get", "put"]
    assert [(p["name"], p["schema"]["type"]) for p in operations["put"]["parameters"]] == [
        ("pool", "string"),
        ("size", "integer"),
    ]
    assert operations["get"]["description"] == "Longer words."
    assert operations["get"]["operationId"] != operations["put"]["operationId"]


def test_plugin_data_endpoints_are_in_the_document() -> None:
    paths = served_document()["paths"]
    assert sorted(paths["/api/v1/plugin-data/{plugin}/{key}"]) == ["delete", "get", "put"]
    assert [p["name"] for p in paths["/api/v1/plugin-data/{plugin}/{key}"]["get"]["parameters"]] == ["plugin", "key"]
    assert sorted(paths["/api/v1/plugin-data/{plugin}"]) == ["get"]


# -- a plugin's data: keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["status", "volumes/vol1", "a.b/c-d_e:f@g+h=i", "..x"])
def test_a_relative_key_is_accepted(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("/plugins/acme/status", "is absolute"),
        ("..", "has an empty, '.' or '..' segment"),
        ("a/../../nodes", "has an empty, '.' or '..' segment"),
        ("a//b", "has an empty, '.' or '..' segment"),
        ("a/", "has an empty, '.' or '..' segment"),
        ("", "has an empty, '.' or '..' segment"),
        ("a/./b", "has an empty, '.' or '..' segment"),
        ("sp ace", "has a segment 'sp ace' that is not letters"),
        ("nul\x00", "has a segment 'nul\\x00' that is not letters"),
    ],
)
def test_a_key_outside_the_plugins_data_is_refused_naming_it(key: str, why: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_key(key)
    assert str(raised.value).startswith(f"key {key!r} {why}")
    assert raised.value.field == "key"


@pytest.mark.parametrize("make", [PluginData, RemoteCluster("http://127.0.0.1:9", "k").plugin_data], ids=["zk", "api"])
def test_both_transports_refuse_a_bad_key_before_any_request(make: Any) -> None:
    data = make(cast("ZkSession", None), "acme") if make is PluginData else make("acme")
    for call in (data.get, data.delete, lambda key: data.set(key, 1), data.children):
        with pytest.raises(InvalidRequest, match=r"key '\.\./nodes' has"):
            call("../nodes")
    with pytest.raises(InvalidRequest, match=r"'\.\./x' is not a plugin name"):
        make(cast("ZkSession", None), "../x") if make is PluginData else make("../x")


def test_a_value_must_be_json() -> None:
    with pytest.raises(InvalidRequest, match="the value of key 'status' is not JSON"):
        RemoteCluster("http://127.0.0.1:9", "k").plugin_data("acme").set("status", {1, 2})
