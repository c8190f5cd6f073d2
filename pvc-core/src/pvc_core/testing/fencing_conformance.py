"""The fencing-role conformance suite: what every fencing driver must do, as pytest tests.

A driver's test module subclasses :class:`FencingConformance` (in a class named ``Test...``) and provides:

* ``fencing``: a driver instance;
* ``target``: a node name the driver can power off and on, whose power starts ``on``;
* ``unreachable``: a node name whose management controller does not answer;
* ``refusing``: a node name whose management controller refuses the driver's credentials.
"""

from __future__ import annotations

import time

import pytest

from pvc_core.errors import PvcError
from pvc_core.roles.fencing import FencingDriver, PowerState


class FencingConformance:
    def test_the_power_state_is_read(self, fencing: FencingDriver, target: str) -> None:
        assert fencing.power_status(target) == PowerState.ON

    def test_power_off_is_confirmed_by_a_status_read(self, fencing: FencingDriver, target: str) -> None:
        fencing.power_off(target)
        assert fencing.power_status(target) == PowerState.OFF

    def test_power_off_of_a_node_already_off_succeeds(self, fencing: FencingDriver, target: str) -> None:
        fencing.power_off(target)
        fencing.power_off(target)
        assert fencing.power_status(target) == PowerState.OFF

    def test_power_on_brings_it_back(self, fencing: FencingDriver, target: str) -> None:
        fencing.power_off(target)
        fencing.power_on(target)
        assert fencing.power_status(target) == PowerState.ON

    def test_an_unreachable_controller_fails_in_bounded_time_with_a_reason(
        self, fencing: FencingDriver, unreachable: str
    ) -> None:
        started = time.monotonic()
        with pytest.raises(PvcError) as caught:
            fencing.power_off(unreachable)
        assert "\n" not in str(caught.value) and str(caught.value)
        assert time.monotonic() - started < 30  # bounded: the driver's own timeout, not forever

    def test_refused_credentials_fail_with_a_reason(self, fencing: FencingDriver, refusing: str) -> None:
        with pytest.raises(PvcError) as caught:
            fencing.power_status(refusing)
        assert str(caught.value)
