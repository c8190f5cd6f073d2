"""The fence monitor's decisions, as a pure state machine: events in, actions out, no I/O, no clock.

The same code runs in pvcd (``builtin.fence-monitor``, which turns ZooKeeper changes into events and
carries out the actions) and in the virtual-time simulator (which checks safety invariants after every
step). Time is whatever the caller says it is.

Rules:

* Only the acting primary decides; every action carries its epoch, and the executor refuses an action
  whose epoch is no longer current. A result arriving after the role was lost is ignored.
* A node is dead when its session has been gone for ``dead_grace`` seconds without coming back. A new
  primary gives every absent node a full grace period from its takeover, and fences nothing during
  ``takeover_grace`` after it.
* No fencing in maintenance mode, and none when half or more of the nodes look dead at once: that is a
  network problem, and fencing would make it worse. But a node whose BMC says it is off (asked, never
  told: ``Fence(only_if_off=True)``, every ``power_check_interval`` seconds) is safe to recover whatever
  that rule says: its VMs cannot be running.
* Fence = power off, confirmed by reading the power state. Only after a confirmed fence are the node's
  VMs started elsewhere. A failed fence starts nothing by default and raises a fault, and is tried again
  while the node stays dead, after ``fence_retry_interval`` seconds and then twice as long each time (up
  to ``fence_retry_max_interval``): once its BMC answers, the node is fenced and its VMs come back by
  themselves. With the policy
  ``recover-after-self-fence`` (only valid when self-fence is enabled), the VMs are recovered once the
  node has surely stopped them itself: ``self_fence_interval`` plus ``dead_grace`` after it was lost.
* A fenced node stays fenced until an operator makes it ready; its VMs never restart there on their own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

FencePolicy = Literal["wait", "recover-after-self-fence"]


@dataclass(frozen=True)
class HaSettings:
    dead_grace: float = 6.0
    takeover_grace: float = 6.0
    fence_retries: int = 2
    on_fence_failure: FencePolicy = "wait"
    self_fence_interval: float | None = None  # None: self-fence disabled (the default, like the original PVC)
    max_dead_fraction: float = 0.5  # this share of the nodes (or more) looking dead at once: fence nobody
    fence_retry_interval: float = 10.0  # after a failed fence (its retries spent), the next try; then doubling
    fence_retry_max_interval: float = 300.0
    power_check_interval: float = 10.0  # a node held back by the half rule: how often its BMC is asked


class Watch(enum.StrEnum):
    ALIVE = "alive"
    LOST = "lost"  # session gone, grace running
    FENCING = "fencing"
    FENCED = "fenced"  # confirmed off, VMs recovered
    FAILED = "failed"  # fence failed: a fault is raised, nothing starts elsewhere (unless policy)
    HELD = "held"  # dead-looking, but fencing is held back (maintenance, too many dead, takeover grace)


# -- actions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkDead:
    node: str
    epoch: int


@dataclass(frozen=True)
class Fence:
    node: str
    epoch: int
    attempt: int
    only_if_off: bool = False  # only ask the BMC: confirmed when it says the node is off, never power it off


@dataclass(frozen=True)
class Recover:
    """Start the node's VMs elsewhere (in parallel, respecting placement); when ``confirmed``, the fence was
    confirmed and the node is marked ``fenced`` first."""

    node: str
    epoch: int
    reason: str
    confirmed: bool = True


@dataclass(frozen=True)
class Fault:
    node: str
    epoch: int
    message: str


@dataclass(frozen=True)
class ClearFault:
    node: str
    epoch: int


Action = MarkDead | Fence | Recover | Fault | ClearFault


@dataclass
class NodeTrack:
    state: Watch = Watch.ALIVE
    lost_at: float | None = None
    attempts: int = 0
    faulted: bool = False
    retries_left: int = 0  # immediate retries left in this round of fencing
    next_round: float | None = None  # when a failed fence is tried again
    round_interval: float = 0.0  # the wait before that
    probing: bool = False  # the BMC is being asked whether the node is off (held back by the half rule)
    checked_at: float | None = None  # when it last said the node was not off
    returned: bool = False  # fenced, then seen with a session again (back during its fence, or powered on)


def primary_cannot_fence_itself(name: str) -> str:
    """Why a fence of the primary's own node is refused (by the client, and by the primary if asked)."""
    return f"node {name} is the primary coordinator and cannot fence itself; make another node primary first"


@dataclass
class FenceMonitor:
    """One per node; only the instance on the acting primary produces actions."""

    settings: HaSettings
    node: str
    epoch: int | None = None  # set while this node acts as primary
    primary_since: float = 0.0
    maintenance: bool = False
    tracks: dict[str, NodeTrack] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)  # the nodes with a session, as last seen

    # -- role --------------------------------------------------------------------------------------------

    def become_primary(
        self, now: float, epoch: int, members: dict[str, bool], fenced: frozenset[str] = frozenset()
    ) -> list[Action]:
        """``members``: every node's name -> whether its session is alive now; ``fenced``: the nodes the
        cluster records as fenced (a previous primary confirmed it)."""
        self.epoch, self.primary_since = epoch, now
        self.alive = {name for name, alive in members.items() if alive}
        for name, alive in members.items():
            track = self.tracks.setdefault(name, NodeTrack())
            if name in fenced:
                self.tracks[name] = NodeTrack(state=Watch.FENCED)
                continue
            if track.state == Watch.FENCED:
                continue
            if alive:
                self.tracks[name] = NodeTrack()
            else:  # we cannot know since when: a full grace from now
                self.tracks[name] = NodeTrack(state=Watch.LOST, lost_at=now)
        return []

    def lose_primary(self) -> list[Action]:
        self.epoch = None
        for track in self.tracks.values():
            if track.state == Watch.FENCING:
                track.state = Watch.LOST  # whoever is primary next decides again
        return []

    @property
    def acting(self) -> bool:
        return self.epoch is not None

    def set_maintenance(self, on: bool) -> list[Action]:
        self.maintenance = on
        return []

    def request_fence(self, now: float, name: str) -> list[Action]:
        """An operator asked to fence ``name`` (``pvc node fence``): fence it now, alive or not."""
        if self.epoch is None:
            return []
        if name == self.node:  # it could not confirm its own power-off, nor recover anything after it
            return [Fault(name, self.epoch, primary_cannot_fence_itself(name))]
        track = self.tracks.setdefault(name, NodeTrack())
        if track.state in (Watch.FENCING, Watch.FENCED):
            return []
        track.state, track.attempts, track.lost_at = Watch.FENCING, 1, track.lost_at or now
        track.retries_left = self.settings.fence_retries
        return [Fence(name, self.epoch, 1)]

    def fenced_node_ready(self, name: str) -> list[Action]:
        """An operator brought a fenced node back (``pvc node ready``): it is a member again."""
        self.tracks[name] = NodeTrack()
        return []

    # -- observations --------------------------------------------------------------------------------------

    def liveness(self, now: float, alive: set[str], members: set[str]) -> list[Action]:
        """``members``: the nodes that should be alive (a node that stopped cleanly is not one)."""
        actions: list[Action] = []
        before, self.alive = self.alive, set(alive)
        for name in [n for n, t in self.tracks.items() if n not in members and t.state != Watch.FENCED]:
            del self.tracks[name]  # it left the cluster cleanly: nothing to watch
        for name in members:
            track = self.tracks.setdefault(name, NodeTrack())
            if name in alive:
                if track.state in (Watch.LOST, Watch.HELD, Watch.FAILED):
                    if track.faulted and self.epoch is not None:
                        actions.append(ClearFault(name, self.epoch))
                    self.tracks[name] = NodeTrack()
                # FENCING / FENCED: a node coming back during or after its fence changes nothing here (it
                # stays flushed until an operator makes it ready), but if it goes again it is recorded dead
                back = name not in before and track.state in (Watch.FENCING, Watch.FENCED)
                track.returned = track.returned or back
            elif track.state == Watch.ALIVE:
                track.state, track.lost_at = Watch.LOST, now
            elif track.state == Watch.FENCED and track.returned and self.epoch is not None:
                track.returned = False  # e.g. back during its fence, and the power-off took it down again
                actions.append(MarkDead(name, self.epoch))
        return actions + self.tick(now)

    def fence_result(self, now: float, node: str, epoch: int, confirmed_off: bool, reason: str) -> list[Action]:
        track = self.tracks.get(node)
        if self.epoch is None or epoch != self.epoch or track is None or track.state != Watch.FENCING:
            return []  # stale: another primary, or the node came back
        if track.probing and not confirmed_off:  # its BMC does not say it is off: held back, asked again later
            track.probing, track.state, track.checked_at = False, Watch.HELD, now
            return []
        track.probing = False
        if confirmed_off:
            track.state = Watch.FENCED
            cleared: list[Action] = [ClearFault(node, epoch)] if track.faulted else []
            track.faulted = False
            return [*cleared, Recover(node, epoch, f"fenced: {reason}")]
        if track.returned and node in self.alive:  # it came back during a fence that failed: a member again
            self.tracks[node] = NodeTrack()
            return [ClearFault(node, epoch)] if track.faulted else []
        if track.retries_left > 0:
            track.retries_left -= 1
            track.attempts += 1
            return [Fence(node, epoch, track.attempts)]
        track.state, track.faulted = Watch.FAILED, True
        if self._policy_recovers():
            after = "its VMs start elsewhere once it has surely stopped them itself (self-fence)"
        else:
            settings = self.settings
            wait = settings.fence_retry_interval if not track.round_interval else track.round_interval * 2
            track.round_interval = min(wait, settings.fence_retry_max_interval)
            track.next_round = now + track.round_interval
            after = f"its VMs were not started elsewhere; trying again in {track.round_interval:g}s"
        message = f"fencing {node} failed after {track.attempts} attempts ({reason}); {after}"
        return [Fault(node, epoch, message), *self.tick(now)]

    def tick(self, now: float) -> list[Action]:
        """Time passed: decide on every node whose grace ran out."""
        if self.epoch is None:
            return []
        epoch = self.epoch
        actions: list[Action] = []
        members = len(self.tracks)
        looking_dead = [
            n for n, t in self.tracks.items() if t.state in (Watch.LOST, Watch.HELD, Watch.FENCING, Watch.FAILED)
        ]
        too_many = members > 0 and len(looking_dead) >= members * self.settings.max_dead_fraction
        for name, track in sorted(self.tracks.items()):
            if track.state in (Watch.LOST, Watch.HELD) and track.lost_at is not None:
                if now - track.lost_at < self.settings.dead_grace:
                    continue
                if track.state == Watch.LOST:
                    actions.append(MarkDead(name, epoch))
                why = ""
                if self.maintenance:
                    why = "maintenance mode is on"
                elif too_many:
                    why = f"{len(looking_dead)} of {members} nodes look dead at once (a network problem?)"
                elif now - self.primary_since < self.settings.takeover_grace:
                    why = "the primary took over moments ago"
                if why:
                    if not track.faulted and why != "the primary took over moments ago":
                        actions.append(Fault(name, epoch, f"{name} looks dead but is not fenced: {why}"))
                        track.faulted = True
                    track.state = Watch.HELD
                    checked = track.checked_at
                    due = checked is None or now - checked >= self.settings.power_check_interval
                    if too_many and not self.maintenance and due:  # ask its BMC: off is safe to recover
                        track.state, track.probing, track.attempts = Watch.FENCING, True, track.attempts + 1
                        actions.append(Fence(name, epoch, track.attempts, only_if_off=True))
                    continue
                if track.faulted:  # it was held back; now it goes ahead
                    actions.append(ClearFault(name, epoch))
                    track.faulted = False
                track.state, track.attempts = Watch.FENCING, 1
                track.retries_left = self.settings.fence_retries
                actions.append(Fence(name, epoch, 1))
            elif track.state == Watch.FAILED and self._may_recover_unfenced(now, track):
                track.state = Watch.FENCED
                actions.append(
                    Recover(name, epoch, "fence failed; recovered after the self-fence interval", confirmed=False)
                )
            elif track.state == Watch.FAILED and track.next_round is not None and now >= track.next_round:
                if self.maintenance or too_many:
                    continue  # held back like a first fence; tried again once that passes
                track.state, track.next_round, track.retries_left = Watch.FENCING, None, 0
                track.attempts += 1
                actions.append(Fence(name, epoch, track.attempts))
        return actions

    def _policy_recovers(self) -> bool:
        policy = self.settings.on_fence_failure == "recover-after-self-fence"
        return policy and self.settings.self_fence_interval is not None

    def _may_recover_unfenced(self, now: float, track: NodeTrack) -> bool:
        if not self._policy_recovers() or track.lost_at is None:
            return False
        interval = float(self.settings.self_fence_interval or 0.0)
        return now - track.lost_at >= interval + self.settings.dead_grace


@dataclass
class SelfFence:
    """Node-side: a node cut off from ZooKeeper for ``interval`` seconds stops its own VMs."""

    interval: float | None
    disconnected_at: float | None = None
    done: bool = False

    def connection(self, now: float, connected: bool) -> None:
        if connected:
            self.disconnected_at, self.done = None, False
        elif self.disconnected_at is None:
            self.disconnected_at = now

    def due(self, now: float) -> bool:
        """True once, when this node must stop its VMs."""
        if self.interval is None or self.disconnected_at is None or self.done:
            return False
        if now - self.disconnected_at >= self.interval:
            self.done = True
            return True
        return False
