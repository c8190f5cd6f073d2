"""The fence monitor's rules, one at a time, without the simulator."""

from __future__ import annotations

from pvc_core.ha.decisions import ClearFault, Fault, Fence, FenceMonitor, HaSettings, MarkDead, Recover, SelfFence

NODES = {"hv1", "hv2", "hv3", "hv4", "hv5"}


def primary(settings: HaSettings | None = None, now: float = 0.0, epoch: int = 7) -> FenceMonitor:
    monitor = FenceMonitor(settings or HaSettings(), "hv1")
    monitor.become_primary(now, epoch, {n: True for n in NODES})
    return monitor


def test_a_lost_node_is_fenced_only_after_the_grace() -> None:
    monitor = primary()
    assert monitor.liveness(10.0, NODES - {"hv3"}, NODES) == []
    assert monitor.tick(15.9) == []
    assert monitor.tick(16.0) == [MarkDead("hv3", 7), Fence("hv3", 7, 1)]


def test_a_node_that_comes_back_within_the_grace_is_left_alone() -> None:
    monitor = primary()
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.liveness(14.0, NODES, NODES)
    assert monitor.tick(30.0) == []


def test_vms_are_recovered_only_after_a_confirmed_fence() -> None:
    monitor = primary()
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    assert monitor.fence_result(17.0, "hv3", 7, confirmed_off=True, reason="off") == [Recover("hv3", 7, "fenced: off")]


def test_a_failed_fence_is_retried_then_raises_a_fault_and_recovers_nothing() -> None:
    monitor = primary(HaSettings(fence_retries=1))
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    assert monitor.fence_result(17.0, "hv3", 7, False, "BMC unreachable") == [Fence("hv3", 7, 2)]
    actions = monitor.fence_result(18.0, "hv3", 7, False, "BMC unreachable")
    assert [type(a) for a in actions] == [Fault]
    assert actions[0].message.endswith("its VMs were not started elsewhere; trying again in 10s")  # type: ignore[union-attr]
    assert not [a for a in monitor.tick(27.9) if isinstance(a, Recover)]


def test_a_failed_fence_is_tried_again_with_a_growing_wait_until_the_bmc_answers() -> None:
    monitor = primary(HaSettings(fence_retries=0, fence_retry_interval=10.0, fence_retry_max_interval=25.0))
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    monitor.fence_result(17.0, "hv3", 7, False, "BMC refused the credentials")
    assert monitor.tick(26.9) == []
    assert monitor.tick(27.0) == [Fence("hv3", 7, 2)]
    fault = monitor.fence_result(27.5, "hv3", 7, False, "BMC refused the credentials")
    assert fault[0].message.endswith("trying again in 20s")  # type: ignore[union-attr]
    assert monitor.tick(47.5) == [Fence("hv3", 7, 3)]
    fault = monitor.fence_result(48.0, "hv3", 7, False, "BMC refused the credentials")
    assert fault[0].message.endswith("trying again in 25s")  # type: ignore[union-attr]  # at most the max
    assert monitor.tick(73.0) == [Fence("hv3", 7, 4)]
    recovered = monitor.fence_result(74.0, "hv3", 7, True, "power off confirmed")  # the password was fixed
    assert recovered == [ClearFault("hv3", 7), Recover("hv3", 7, "fenced: power off confirmed")]


def test_retries_of_a_failed_fence_are_held_in_maintenance_mode() -> None:
    monitor = primary(HaSettings(fence_retries=0))
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    monitor.fence_result(17.0, "hv3", 7, False, "BMC unreachable")
    monitor.set_maintenance(True)
    assert monitor.tick(60.0) == []
    monitor.set_maintenance(False)
    assert monitor.tick(61.0) == [Fence("hv3", 7, 2)]


def test_a_result_for_an_old_epoch_is_ignored() -> None:
    monitor = primary()
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    monitor.lose_primary()
    monitor.become_primary(20.0, 8, {n: n != "hv3" for n in NODES})
    assert monitor.fence_result(21.0, "hv3", 7, True, "off") == []


def test_a_node_that_lost_the_primary_role_decides_nothing() -> None:
    monitor = primary()
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.lose_primary()
    assert monitor.tick(100.0) == []


def test_no_fencing_during_the_takeover_grace() -> None:
    monitor = primary(HaSettings(dead_grace=1.0, takeover_grace=6.0), now=100.0)
    monitor.liveness(100.5, NODES - {"hv3"}, NODES)
    assert [type(a) for a in monitor.tick(102.0)] == [MarkDead]
    assert monitor.tick(106.0) == [Fence("hv3", 7, 1)]


def test_no_fencing_when_half_or_more_of_the_nodes_look_dead_but_their_bmcs_are_asked() -> None:
    monitor = primary()
    monitor.liveness(10.0, {"hv1", "hv2"}, NODES)
    actions = monitor.tick(16.0)
    fences = [a for a in actions if isinstance(a, Fence)]
    assert fences and all(f.only_if_off for f in fences)  # asked, never powered off
    assert {a.node for a in actions if isinstance(a, Fault)} == {"hv3", "hv4", "hv5"}
    assert monitor.fence_result(16.5, "hv3", 7, False, "its BMC says it is on") == []  # held, asked again later
    assert monitor.fence_result(16.5, "hv4", 7, False, "its BMC says it is on") == []
    off = monitor.fence_result(16.5, "hv5", 7, True, "its BMC says it is off")
    assert off == [ClearFault("hv5", 7), Recover("hv5", 7, "fenced: its BMC says it is off")]
    again = [a for a in monitor.tick(26.5) if isinstance(a, Fence)]
    # hv5 is fenced now and no longer looks dead: 2 of 5 is under half, so the others are fenced as usual
    assert {(a.node, a.only_if_off) for a in again} == {("hv3", False), ("hv4", False)}


def test_no_fencing_in_maintenance_mode() -> None:
    monitor = primary()
    monitor.set_maintenance(True)
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    assert not [a for a in monitor.tick(16.0) if isinstance(a, Fence)]
    monitor.set_maintenance(False)
    assert monitor.tick(17.0) == [ClearFault("hv3", 7), Fence("hv3", 7, 1)]  # the held-back fault goes too


def test_a_new_primary_does_not_fence_a_node_already_recorded_fenced() -> None:
    monitor = FenceMonitor(HaSettings(), "hv2")
    monitor.become_primary(50.0, 9, {n: n != "hv3" for n in NODES}, fenced=frozenset({"hv3"}))
    assert monitor.tick(100.0) == []


def test_self_fence_is_due_once_after_the_interval_and_never_when_disabled() -> None:
    enabled = SelfFence(interval=10.0)
    enabled.connection(5.0, connected=False)
    assert not enabled.due(14.9)
    assert enabled.due(15.0)
    assert not enabled.due(16.0)
    disabled = SelfFence(interval=None)
    disabled.connection(5.0, connected=False)
    assert not disabled.due(1000.0)


def test_a_fault_about_a_failed_node_counts_it_as_dead_for_the_half_rule() -> None:
    monitor = primary(HaSettings(fence_retries=0))
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    monitor.fence_result(17.0, "hv3", 7, False, "BMC unreachable")  # hv3: failed, still looks dead
    monitor.liveness(20.0, NODES - {"hv3", "hv4", "hv5"}, NODES)
    actions = monitor.tick(26.0)
    assert all(a.only_if_off for a in actions if isinstance(a, Fence))  # 3 of 5 look dead: power nobody off


def test_the_primary_refuses_to_fence_itself_with_a_fault() -> None:
    monitor = primary()
    actions = monitor.request_fence(5.0, "hv1")
    assert [type(a) for a in actions] == [Fault] and "cannot fence itself" in actions[0].message  # type: ignore[union-attr]
    assert monitor.request_fence(5.0, "hv2") == [Fence("hv2", 7, 1)]


def test_an_operators_failed_fence_of_a_live_node_still_raises_its_fault() -> None:
    monitor = primary(HaSettings(fence_retries=0))
    assert monitor.request_fence(5.0, "hv2") == [Fence("hv2", 7, 1)]
    actions = monitor.fence_result(6.0, "hv2", 7, confirmed_off=False, reason="no fencing driver")
    assert [type(a) for a in actions] == [Fault] and "fencing hv2 failed" in actions[0].message  # type: ignore[union-attr]


def test_a_node_back_during_a_fence_that_fails_is_a_member_again() -> None:
    monitor = primary(HaSettings(fence_retries=0))
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    assert monitor.tick(16.0) == [MarkDead("hv3", 7), Fence("hv3", 7, 1)]
    monitor.liveness(16.5, NODES, NODES)  # powered on while its fence runs
    assert monitor.fence_result(17.0, "hv3", 7, confirmed_off=False, reason="BMC unreachable") == []
    assert monitor.tick(60.0) == []  # nothing to retry


def test_a_fenced_node_back_and_gone_again_is_recorded_dead_once() -> None:
    monitor = primary()
    monitor.liveness(10.0, NODES - {"hv3"}, NODES)
    monitor.tick(16.0)
    monitor.fence_result(17.0, "hv3", 7, confirmed_off=True, reason="off")
    assert monitor.liveness(20.0, NODES, NODES) == []  # powered on: flushed, still fenced
    assert monitor.liveness(30.0, NODES - {"hv3"}, NODES) == [MarkDead("hv3", 7)]
    assert monitor.liveness(31.0, NODES - {"hv3", "hv4"}, NODES) == []
