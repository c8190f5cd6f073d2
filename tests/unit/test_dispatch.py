"""Dispatch: one thread runs jobs in order; a raising job or hook is logged and the rest go on."""

from __future__ import annotations

import io
import json
import threading
import types
from typing import Any

import pytest

from pvc_core import hookimpl
from pvc_core.dispatch import Dispatcher
from pvc_core.log import configure_logging
from pvc_core.plugins.hooks import Hooks
from pvc_core.plugins.manager import PluginSet


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    return stream


def test_jobs_run_in_order_on_one_thread() -> None:
    dispatcher = Dispatcher("hv1")
    dispatcher.start()
    seen: list[tuple[int, str]] = []
    for i in range(50):
        dispatcher.post(f"job {i}", lambda i=i: seen.append((i, threading.current_thread().name)))
    dispatcher.run_sync("barrier", lambda: None, timeout=5)
    dispatcher.stop()
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"pvc-dispatcher"}


def test_a_raising_job_is_logged_and_the_next_one_runs(log_stream: io.StringIO) -> None:
    dispatcher = Dispatcher("hv1")
    dispatcher.start()
    ran = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    dispatcher.post("exploding event", boom)
    dispatcher.post("next event", ran.set)
    assert ran.wait(5)
    dispatcher.stop()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    failure = next(line for line in lines if line["event"] == "dispatch_failed")
    assert failure["node"] == "hv1"
    assert failure["on_event"] == "exploding event"
    assert "RuntimeError: boom" in failure["exception"]


def test_call_later_runs_on_the_dispatcher_after_the_delay() -> None:
    dispatcher = Dispatcher("hv1")
    dispatcher.start()
    done = threading.Event()
    where: list[str] = []
    dispatcher.call_later(0.1, "later", lambda: (where.append(threading.current_thread().name), done.set()))
    assert done.wait(5)
    dispatcher.stop()
    assert where == ["pvc-dispatcher"]


def test_a_raising_hook_is_isolated_and_names_plugin_hook_and_event(log_stream: io.StringIO) -> None:
    calls: list[str] = []
    bad, good = types.ModuleType("bad"), types.ModuleType("good")

    @hookimpl
    def pvc_daemon_start(host: Any) -> None:
        raise RuntimeError("bad plugin")

    bad.pvc_daemon_start = pvc_daemon_start  # type: ignore[attr-defined]

    @hookimpl(tryfirst=True)
    def pvc_daemon_start_good(host: Any) -> None:
        calls.append("good")

    good.pvc_daemon_start = pvc_daemon_start_good  # type: ignore[attr-defined]
    plugins = PluginSet()
    plugins.register(good, "good", "1")
    plugins.register(bad, "bad", "1")
    failed = Hooks(plugins.pm).notify("pvc_daemon_start", "daemon start", host=None)
    assert failed == ["bad"]
    assert calls == ["good"]
    record = json.loads(log_stream.getvalue().splitlines()[-1])
    assert record["plugin"] == "bad"
    assert record["hook"] == "pvc_daemon_start"
    assert record["event"] == "hook_failed"
    assert record["on_event"] == "daemon start"
    assert "bad plugin" in record["exception"]
