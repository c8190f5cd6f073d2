"""The API's endpoints are declared once, with their models: Flask routes and the OpenAPI document are
both generated from these declarations, so the document cannot drift from the code."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

# a Flask rule's variable: <name>, <converter:name>, <converter(arguments):name>
VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: /vm/<name> and /data/<path:key> -> /vm/{name}, /data/{key}."""
    return VARIABLE.sub(lambda variable: "{" + variable["name"] + "}", rule)


@dataclass
class Endpoint:
    method: str
    path: str  # Flask style, relative to /api/v1: /vm/<name>
    function: Callable[..., Any]
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a pydantic model, [model] for a list, or a JSON schema dict
    status: int = 200
    long: bool = False  # may answer 202 with a task
    # for long endpoints: waits until what ``function`` asked for is done (run in the task when the
    # request did not ask to wait; ``function`` itself then only makes the request)
    settle: Callable[..., Any] | None = None
    public: bool = False  # no key needed
    errors: tuple[int, ...] = (400, 404)

    @property
    def openapi_path(self) -> str:
        return openapi_path(self.path)

    @property
    def path_params(self) -> list[str]:
        return [variable["name"] for variable in VARIABLE.finditer(self.path)]


@dataclass
class Registry:
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, summary: str, tag: str, **options: Any) -> Callable[..., Any]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.endpoints.append(Endpoint(method, path, function, summary, tag, **options))
            return function

        return register


class ResponseCache:
    """Response bodies by a key that names everything they were built from (a listing's version and its
    filters): a few of the latest, least recently used dropped first. Shared by the request threads."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._bodies:
                self._bodies.move_to_end(key)
                return self._bodies[key]
        body = build()  # outside the lock: two threads may build the same body, neither waits on the other
        with self._lock:
            self._bodies[key] = body
            self._bodies.move_to_end(key)
            while len(self._bodies) > self.size:
                self._bodies.popitem(last=False)
        return body
