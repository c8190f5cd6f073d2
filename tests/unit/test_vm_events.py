"""Cluster-level VM events: a summary bucket's change becomes defined/modified/renamed/removed calls on the
primary, and nothing elsewhere or for runtime changes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pvc_core.vm_events import VmEvents
from pvc_core.vms.model import VmRecord
from pvc_core.zk.session import encode

PATH = "/domain_summaries/07"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def vm_defined(self, host: Any, vm: VmRecord) -> None:
        self.calls.append(("defined", vm.name, ""))

    def vm_modified(self, host: Any, old: VmRecord, new: VmRecord) -> None:
        self.calls.append(("modified", new.name, f"{old.memory_mib}->{new.memory_mib}"))

    def vm_renamed(self, host: Any, vm: VmRecord, old_name: str) -> None:
        self.calls.append(("renamed", vm.name, old_name))

    def vm_removed(self, host: Any, vm: VmRecord) -> None:
        self.calls.append(("removed", vm.name, ""))


def bucket(*records: VmRecord) -> bytes:
    return encode({r.uuid: r.to_dict() for r in records})


def events(primary: bool = True) -> tuple[VmEvents, Recorder]:
    recorder = Recorder()
    return VmEvents(SimpleNamespace(is_primary=primary), recorder), recorder  # type: ignore[arg-type]


def test_the_first_look_is_a_baseline_and_later_changes_are_events() -> None:
    vm_events, recorder = events()
    web = VmRecord(uuid="u1", name="web", memory_mib=512)
    vm_events.on_bucket(PATH, bucket(web))
    assert recorder.calls == []
    db = VmRecord(uuid="u2", name="db")
    vm_events.on_bucket(PATH, bucket(web, db))
    vm_events.on_bucket(PATH, bucket(web.with_(memory_mib=1024), db))
    vm_events.on_bucket(PATH, bucket(web.with_(memory_mib=1024, name="www"), db))
    vm_events.on_bucket(PATH, bucket(db))
    assert recorder.calls == [
        ("defined", "db", ""),
        ("modified", "web", "512->1024"),
        ("renamed", "www", "web"),
        ("removed", "www", ""),
    ]


def test_runtime_changes_are_no_events() -> None:
    vm_events, recorder = events()
    web = VmRecord(uuid="u1", name="web")
    vm_events.on_bucket(PATH, bucket(web))
    vm_events.on_bucket(PATH, bucket(web.with_(state="start", node="hv2", observed="running", failure_reason="x")))
    assert recorder.calls == []


def test_a_node_that_is_not_primary_calls_nothing_but_keeps_its_view() -> None:
    vm_events, recorder = events(primary=False)
    vm_events.on_bucket(PATH, bucket())
    vm_events.on_bucket(PATH, bucket(VmRecord(uuid="u1", name="web")))
    assert recorder.calls == []
    vm_events.host.is_primary = True  # type: ignore[attr-defined]  # it takes over: its view is current
    vm_events.on_bucket(PATH, bucket())
    assert recorder.calls == [("removed", "web", "")]
