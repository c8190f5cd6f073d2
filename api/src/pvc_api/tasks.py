"""Long operations run in a thread; the client polls ``/api/v1/tasks/ID`` (or asked ``wait=true``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pvc_core.errors import PvcError


class Tasks:
    def __init__(self, keep: int = 1000) -> None:
        self._tasks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def start(self, kind: str, target: str, work: Callable[[], Any]) -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        task = {
            "id": task_id,
            "kind": kind,
            "target": target,
            "status": "running",
            "result": None,
            "error": None,
            "created": time.time(),
            "finished": None,
            "url": f"/api/v1/tasks/{task_id}",
        }
        with self._lock:
            self._tasks[task_id] = task
            while len(self._tasks) > self._keep:
                self._tasks.pop(next(iter(self._tasks)))

        def run() -> None:
            try:
                result = work()
                task.update(status="succeeded", result=result)
            except PvcError as exc:
                task.update(status="failed", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - recorded on the task; the thread must not die silently
                task.update(status="failed", error=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                task["finished"] = time.time()

        threading.Thread(target=run, name=f"pvc-task-{task_id[:8]}", daemon=True).start()
        return dict(task)

    def get(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return dict(task) if task else None
