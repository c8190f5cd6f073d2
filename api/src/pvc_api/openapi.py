"""The OpenAPI 3 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pvc_api import models as m
from pvc_api.registry import VARIABLE, Endpoint, Registry, openapi_path
from pvc_core import __version__
from pvc_core.errors import Conflict, PvcError, Timeout, Unavailable

PREFIX = "/api/v1"


def _schema(target: Any, components: dict[str, Any]) -> dict[str, Any]:
    if target is None:
        return {"type": "object"}
    if isinstance(target, list):
        return {"type": "array", "items": _schema(target[0], components)}
    if isinstance(target, dict):
        return target
    assert issubclass(target, BaseModel)
    schema = target.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[target.__name__] = schema
    return {"$ref": f"#/components/schemas/{target.__name__}"}


BRACES = str.maketrans("", "", "{}")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    error = _schema(m.Error, components)
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": f"{endpoint.method.lower()}{endpoint.openapi_path.replace('/', '_').translate(BRACES)}",
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in endpoint.path_params
        ],
        "responses": {str(endpoint.status): _json(_schema(endpoint.response, components), "success")},
    }
    if endpoint.query is not None:
        for name, field in endpoint.query.model_fields.items():
            schema = endpoint.query.model_json_schema()["properties"][name]
            operation["parameters"].append(
                {"name": name, "in": "query", "required": field.is_required(), "schema": schema}
            )
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _schema(endpoint.body, components)}},
        }
    if endpoint.long:
        operation["responses"]["202"] = _json(_schema(m.Task, components), "accepted: poll the task")
    for status in sorted(_error_statuses(endpoint)):
        operation["responses"][str(status)] = _json(error, "error")
    if endpoint.public:
        operation["security"] = []
    else:
        operation["responses"]["401"] = _json(error, "no valid API key")
    return operation


def _error_statuses(endpoint: Endpoint) -> set[int]:
    """What the endpoint declares, and what any endpoint of its kind may answer (pvc_core.errors' table)."""
    statuses = {*endpoint.errors, Unavailable.http_status, PvcError.http_status}
    if endpoint.method != "GET":
        statuses.add(Conflict.http_status)  # a write may keep losing a compare-and-set race
    if endpoint.long:
        statuses.add(Timeout.http_status)  # waiting for it ("wait": true) may run out of time
    return statuses


@dataclass(frozen=True)
class PluginRoute:
    """One route of a plugin's blueprint, as pvcapid mounted it (the plugin declares no models: the
    document says what every plugin route may answer)."""

    blueprint: str  # its name: the routes are under /api/v1/plugins/<blueprint>
    method: str
    rule: str  # the Flask rule of the whole path: /api/v1/plugins/acme/volume/<int:size>
    endpoint: str  # Flask's endpoint name: acme.volume
    doc: str  # the view's docstring ("" when it has none)


CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}


def _plugin_operation(route: PluginRoute, operation_id: str, components: dict[str, Any]) -> dict[str, Any]:
    error = _schema(m.Error, components)
    lines = route.doc.strip().splitlines()
    summary = lines[0].strip() if lines else f"{route.method} route of plugin {route.blueprint}"
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [f"plugin {route.blueprint}"],
        "operationId": operation_id,
        "parameters": [
            {
                "name": variable["name"],
                "in": "path",
                "required": True,
                "schema": CONVERTER_SCHEMAS.get(variable["converter"] or "", {"type": "string", "minLength": 1}),
            }
            for variable in VARIABLE.finditer(route.rule)
        ],
        "security": [{"ApiKey": []}],
        "responses": {
            "200": _json({}, "success: JSON, as the plugin documents it"),
            "401": _json(error, "no valid API key"),
            "4XX": _json(error, "refused (a PvcError or an HTTP error the plugin raised)"),
            str(PvcError.http_status): _json(error, "error"),
            str(Unavailable.http_status): _json(error, "error"),
        },
    }
    description = "\n".join(lines[1:]).strip()
    if description:
        operation["description"] = description
    return operation


def document(registry: Registry, plugin_routes: Sequence[PluginRoute] = ()) -> dict[str, Any]:
    """The document: the declared endpoints, then every route of the plugins' blueprints."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for endpoint in registry.endpoints:
        path = PREFIX if endpoint.path == "/" else PREFIX + endpoint.openapi_path
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, components)
    operation_ids: set[str] = set()
    for route in plugin_routes:
        operation_id = f"{route.method.lower()}_{route.endpoint.replace('.', '_')}"
        while operation_id in operation_ids:  # one view under two rules
            operation_id += "_"
        operation_ids.add(operation_id)
        operation = _plugin_operation(route, operation_id, components)
        paths.setdefault(openapi_path(route.rule), {})[route.method.lower()] = operation
    error = _schema(m.Error, components)
    paths[PREFIX + "/tasks/{task_id}"] = {
        "get": {
            "summary": "A long operation's task",
            "tags": ["tasks"],
            "operationId": "get_task",
            "parameters": [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": _json(_schema(m.Task, components), "the task"),
                "404": _json(error, "no such task"),
                "401": _json(error, "no valid API key"),
            },
        }
    }
    paths[PREFIX + "/openapi.json"] = {
        "get": {
            "summary": "This document",
            "tags": ["api"],
            "operationId": "get_openapi",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document"), "401": _json(error, "no valid key")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PVC API",
            "version": __version__,
            "description": "The Parallel Virtual Cluster: nodes, coordinators, VMs, plugins.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
        "security": [{"ApiKey": []}],
        "paths": paths,
    }


def docs_page(spec: dict[str, Any]) -> str:
    """A browsable list of the endpoints, rendered here (no assets fetched from anywhere)."""
    rows = []
    for path, operations in sorted(spec["paths"].items()):
        for method, operation in operations.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
                f"<td>{operation.get('summary', '')}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>PVC API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}</style></head><body>"
        f"<h1>PVC API {spec['info']['version']}</h1><p>The machine-readable document: "
        "<a href='openapi.json'>openapi.json</a>. Send the key in the <code>X-Api-Key</code> header.</p>"
        "<table>" + "".join(rows) + "</table></body></html>"
    )
