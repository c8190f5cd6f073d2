"""The Flask application: /api/v1, key auth, JSON errors naming the field, request ids, tasks, metrics,
and the OpenAPI document generated from the endpoint declarations in :mod:`pvc_api.endpoints`."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from pvc_api.keys import KeyRing, SignInLimiter
from pvc_api.openapi import PluginRoute, docs_page, document
from pvc_api.registry import Endpoint, Registry, ResponseCache
from pvc_api.tasks import Tasks
from pvc_core import limits
from pvc_core.apikeys import READING, allowed
from pvc_core.client import Cluster
from pvc_core.client.audit import AuditLog
from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.log import get_logger
from pvc_core.metrics import Gauge as PluginGauge

PREFIX = "/api/v1"


class PluginGauges:
    """A Prometheus collector asking the plugins for their gauges at every scrape (``pvc_api_metrics``)."""

    def __init__(self, source: Callable[[], list[PluginGauge]]) -> None:
        self.source = source

    def collect(self) -> Any:
        for gauge in self.source():
            names = sorted({name for labels, _ in gauge.samples for name in labels})
            family = GaugeMetricFamily(gauge.name, gauge.help, labels=names)
            for labels, value in gauge.samples:
                family.add_metric([str(labels[name]) for name in names], float(value))
            yield family


class Metrics:
    def __init__(self, plugin_gauges: Callable[[], list[PluginGauge]] | None = None) -> None:
        self.registry = CollectorRegistry()
        if plugin_gauges is not None:
            self.registry.register(PluginGauges(plugin_gauges))
        self.latency = Histogram(
            "pvc_api_request_seconds", "API request latency", ["endpoint", "method"], registry=self.registry
        )
        self.nodes = Gauge("pvc_nodes", "Nodes by daemon state", ["state"], registry=self.registry)
        self.vms = Gauge("pvc_vms", "VMs by state", ["state"], registry=self.registry)
        self.primary = Gauge("pvc_primary", "1 for the primary coordinator", ["node"], registry=self.registry)
        self.faults = Gauge("pvc_faults", "Faults raised by the primary", registry=self.registry)
        self.fenced = Gauge("pvc_nodes_fenced", "Nodes currently fenced", registry=self.registry)
        self.fences = Gauge(
            "pvc_fences", "Fence attempts since the cluster began, by result", ["result"], registry=self.registry
        )
        self.errors = Counter("pvc_api_errors", "API errors by status", ["status"], registry=self.registry)

    def render(self, cluster: Cluster) -> bytes:
        nodes = cluster.nodes()
        self.nodes.clear()
        for state in {n.daemon_state for n in nodes}:
            self.nodes.labels(state=state).set(sum(n.daemon_state == state for n in nodes))
        self.primary.clear()
        for node in nodes:
            self.primary.labels(node=node.name).set(1 if node.is_primary else 0)
        self.fenced.set(sum(n.daemon_state == "fenced" for n in nodes))
        vms = cluster.vms.list()
        self.vms.clear()
        for state in {v.state for v in vms}:
            self.vms.labels(state=state).set(sum(v.state == state for v in vms))
        self.faults.set(len(cluster.faults()))
        for result, count in cluster.fence_counts().items():
            self.fences.labels(result=result).set(count)
        return generate_latest(self.registry)


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    """An error answer: ``code`` is the stable name of the kind of error (``not_found``, ``busy``...)."""
    response = jsonify({"error": code, "message": message, "field": field, "request_id": g.get("request_id")})
    response.status_code = status
    return response


def pvc_error(exc: PvcError) -> Response:
    """A :class:`PvcError` as its class says: status and ``error`` code from the class, never from the text."""
    field = exc.field if isinstance(exc, InvalidRequest) else None
    if exc.http_status >= 500:  # the serving side failed (ZooKeeper away, a plugin broke): worth a line
        get_logger(component="api").warning(
            "request_failed", request_id=g.get("request_id"), path=request.path, error=exc.code, message=str(exc)
        )
    return error(exc.http_status, exc.code, str(exc), field)


UNAUTHORISED = (401, "unauthorised", "a valid X-Api-Key header is required")


def create_app(
    cluster: Cluster,
    keys: KeyRing,
    registry: Registry,
    extra_blueprints: Sequence[Any] = (),
    loaded_plugins: dict[str, dict[str, Any]] | None = None,
    plugin_gauges: Callable[[], list[PluginGauge]] | None = None,
    audit_log: AuditLog | None = None,
) -> Flask:
    """The API's Flask app. ``loaded_plugins``: what pvcapid itself loaded (name -> version, hooks, routes);
    ``audit_log``: where every mutating request is recorded (none: not recorded)."""
    app = Flask("pvc_api")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = limits.MAX_BODY_BYTES  # refused (413) before a byte of it is read
    tasks = Tasks()
    metrics = Metrics(plugin_gauges)
    log = get_logger(component="api")
    app.extensions["pvc"] = {
        "cluster": cluster,
        "tasks": tasks,
        "registry": registry,
        "listings": ResponseCache(),
        "plugins": loaded_plugins or {},
    }

    @app.before_request
    def begin() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        endpoint = request.url_rule.rule if request.url_rule is not None else "unknown"
        metrics.latency.labels(endpoint=endpoint, method=request.method).observe(time.perf_counter() - g.started)
        if response.status_code >= 400:
            metrics.errors.labels(status=str(response.status_code)).inc()
        audited(response)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        size = request.content_length
        said = f"{size} bytes" if size is not None else "too large"
        return error(413, "too_large", f"the request body is {said}; at most {limits.MAX_BODY_BYTES}", "body")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return error(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name)

    @app.errorhandler(PvcError)
    def pvc_failure(exc: PvcError) -> Response:  # from a plugin's blueprint: the same answer as an endpoint's
        return pvc_error(exc)

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Response:
        log.exception("request_failed", request_id=g.get("request_id"), path=request.path)
        return error(500, "internal_error", f"internal error (request id {g.get('request_id')})")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(cluster), mimetype=CONTENT_TYPE_LATEST)

    limiter = SignInLimiter()

    def gate() -> Response | None:
        """None when the request's key may make it; else the answer: 401, 403, or 429 for an address
        that failed to sign in too often."""
        source = request.remote_addr or "-"
        presented = request.headers.get("X-Api-Key")
        wait = limiter.wait(source) if presented else 0.0
        if wait > 0:
            return error(429, "too_many_attempts", f"too many failed sign-ins from {source}; try again in {wait:.0f}s")
        identity = keys.who(presented)
        if identity is None:
            if presented:
                limiter.failed(source)
            return error(*UNAUTHORISED)
        g.key_name, g.key_role = identity.name, identity.role
        relative = request.path[len(PREFIX) :] or "/"
        if not allowed(identity.role, request.method, relative):
            return error(
                403,
                "forbidden",
                f"API key '{identity.name}' (role {identity.role}) may not {request.method} {request.path}",
            )
        return None

    def audited(response: Response) -> None:
        if audit_log is None or request.method in READING or not request.path.startswith(PREFIX):
            return
        entry = {
            "at": time.time(),
            "key": g.get("key_name"),
            "role": g.get("key_role"),
            "source": request.remote_addr,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "request_id": g.get("request_id", ""),
        }
        try:
            audit_log.append(entry)
        except Exception:
            log.exception("audit_not_written", request_id=entry["request_id"], path=request.path)

    for endpoint in registry.endpoints:
        app.add_url_rule(
            PREFIX + endpoint.path if endpoint.path != "/" else PREFIX,
            endpoint=f"{endpoint.method} {endpoint.path}",
            view_func=_view(endpoint, cluster, tasks, gate),
            methods=[endpoint.method],
            strict_slashes=False,
        )
    for blueprint in extra_blueprints:
        blueprint.before_request(gate)
        app.register_blueprint(blueprint, url_prefix=f"{PREFIX}/plugins/{blueprint.name}")
    spec = document(registry, plugin_routes(app, [blueprint.name for blueprint in extra_blueprints]))

    @app.get(PREFIX + "/openapi.json")
    def openapi() -> Response:
        refused = gate()
        if refused is not None:
            return refused
        return jsonify(spec)

    @app.get(PREFIX + "/docs")
    def docs() -> Response:
        return Response(docs_page(spec), mimetype="text/html")

    @app.get(PREFIX + "/tasks/<task_id>")
    def task(task_id: str) -> Response:
        refused = gate()
        if refused is not None:
            return refused
        found = tasks.get(task_id)
        if found is None:
            return error(404, "not_found", f"no task {task_id}")
        return jsonify(found)

    return app


def plugin_routes(app: Flask, blueprints: Sequence[str]) -> list[PluginRoute]:
    """Every route the plugins' blueprints mounted, one per method, for the OpenAPI document."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in blueprints or rule.endpoint.endswith(".static"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append(PluginRoute(blueprint, method, rule.rule, rule.endpoint, inspect.getdoc(view) or ""))
    return routes


def _parse(model: type[BaseModel] | None, data: Any, where: str) -> BaseModel | None:
    if model is None:
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequest(f"the {where} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequest(f"{field}: {first['msg']}" if field else first["msg"], field) from exc


def _view(endpoint: Endpoint, cluster: Cluster, tasks: Tasks, gate: Callable[[], Response | None]) -> Any:
    def view(**path: str) -> Response:
        if not endpoint.public:
            refused = gate()
            if refused is not None:
                return refused
        try:
            query = _parse(endpoint.query, request.args.to_dict(), "query")
            body = None
            if endpoint.body is not None:
                payload = request.get_json(silent=True) if request.data else {}
                if request.data and payload is None:
                    raise InvalidRequest("the body is not valid JSON")
                body = _parse(endpoint.body, payload, "body")
            kwargs: dict[str, Any] = {"cluster": cluster, **path}
            if query is not None:
                kwargs["query"] = query
            if body is not None:
                kwargs["body"] = body
            if endpoint.long and endpoint.settle is not None and body is not None and not getattr(body, "wait", False):
                endpoint.function(**kwargs)  # the request itself is made now: its errors answer this call
                target = next(iter(path.values()), "")
                settle = endpoint.settle
                task = tasks.start(f"{endpoint.method} {endpoint.path}", target, lambda: settle(**kwargs))
                response = jsonify(task)
                response.status_code = 202
                response.headers["Location"] = task["url"]
                return response
            result = endpoint.function(**kwargs)
            if isinstance(result, Response):  # already encoded (a cached listing)
                return result
        except PvcError as exc:
            return pvc_error(exc)
        response = jsonify(result)
        response.status_code = endpoint.status
        return response

    view.__name__ = f"{endpoint.method}_{endpoint.path}"
    return view
