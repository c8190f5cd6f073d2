"""Test helpers for code that talks to pvcapid: a real pvcapid started as a process on a free port, and a
small JSON client. For PVC's own tests and for plugins' tests of their API routes (``pvc_api_blueprints``)::

    from pvc_api.testing import KEY, Api, running_api

    def test_my_route(zk_hosts, tmp_path):              # zk_hosts: pvc-core's pytest fixture
        with running_api(tmp_path, zk_hosts, plugins=["acme"], sections={"acme": {...}}) as api:
            status, body, _headers = api.call("GET", "/plugins/acme/status")

Its key is :data:`KEY` (sent by :class:`Api` unless told otherwise); its log is ``tmp_path/pvcapid.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pvc_api.keys import hash_key

KEY = "test-key-0123456789"
PVCAPID = str(Path(sys.executable).with_name("pvcapid"))


class PvcapidFailed(RuntimeError):
    """pvcapid exited, or did not listen within 30 s; the message is its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Api:
    def __init__(self, url: str, context: ssl.SSLContext | None = None) -> None:
        self.url, self.context = url, context

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = KEY, raw: bytes | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key is not None:
            request.add_header("X-Api-Key", key)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                text = response.read().decode()
                status, headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            text, status, headers = exc.read().decode(), exc.code, dict(exc.headers)
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return status, payload, headers


def start_api(
    tmp_path: Path,
    zk_hosts: str,
    tls: dict[str, str] | None = None,
    plugins: list[str] | None = None,
    env: dict[str, str] | None = None,
    sections: dict[str, Any] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """A pvcapid on a free port; ``sections``: more top-level keys of pvcapid.yaml (plugin sections)."""
    port = free_port()
    config: dict[str, Any] = {
        "listen": "127.0.0.1",
        "port": port,
        "zookeeper": zk_hosts,
        "keys": [{"name": "tests", "hash": hash_key(KEY, iterations=1000)}],
        "threads": 4,
    }
    if tls:
        config["tls"] = tls
    if plugins:
        config["plugins"] = {"enable": plugins}
    config.update(sections or {})
    path = tmp_path / "pvcapid.yaml"
    path.write_text(json.dumps(config))
    log = open(tmp_path / "pvcapid.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [PVCAPID, "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ | (env or {}),
    )
    log.close()
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if process.poll() is not None or time.monotonic() > deadline:
            raise PvcapidFailed((tmp_path / "pvcapid.log").read_text())
        time.sleep(0.1)


def stop_api(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn lets requests in flight finish for a while), SIGKILL if it is still there."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def running_api(
    tmp_path: Path,
    zk_hosts: str,
    plugins: list[str] | None = None,
    sections: dict[str, Any] | None = None,
) -> Iterator[Api]:
    """A pvcapid for the block (``plugins`` enabled, ``sections`` in its config), stopped afterwards."""
    process, port = start_api(tmp_path, zk_hosts, plugins=plugins, sections=sections)
    try:
        yield Api(f"http://127.0.0.1:{port}/api/v1")
    finally:
        stop_api(process)
