"""The dns conformance suite against the test plugin's in-memory driver (a fake DNS server, named as one)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from pvc_core.roles.dns import DnsDriver
from pvc_core.testing.dns_conformance import DnsConformance
from pvc_test_plugin.memorydns import InMemoryTestDns

pytestmark = pytest.mark.unit


class TestInMemoryDnsConformance(DnsConformance):
    @pytest.fixture
    def make_driver(self) -> Callable[[], DnsDriver]:
        host: Any = SimpleNamespace(node="test")
        driver = InMemoryTestDns(host, "memorydns")  # one server for the whole test, as a real one would be
        return lambda: driver
