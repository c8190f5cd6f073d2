"""API key roles (pvc_core.apikeys.allowed), the key ring with roles, and the sign-in limiter."""

from __future__ import annotations

import pytest

from pvc_api.keys import KeyRing, SignInLimiter
from pvc_core.apikeys import allowed, hash_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("read", "GET", "/vm", True),
        ("read", "POST", "/vm", False),
        ("read", "DELETE", "/vm/web", False),
        ("read", "GET", "/api-keys", False),
        ("operator", "POST", "/vm/web/state", True),
        ("operator", "POST", "/node/hv1/flush", True),
        ("operator", "PUT", "/cluster/maintenance", False),
        ("operator", "POST", "/plugins/storage/volume", False),
        ("operator", "POST", "/plugin-calls/x/y", False),
        ("operator", "POST", "/vmx", False),  # a prefix of a word is not the VM routes
        ("operator", "GET", "/api-keys", False),
        ("admin", "POST", "/api-keys", True),
        ("admin", "DELETE", "/cluster/faults/hv1", True),
    ],
)
def test_what_each_role_may_do(role: str, method: str, path: str, expected: bool) -> None:
    assert allowed(role, method, path) is expected


def test_configured_keys_are_admins_unless_said_and_stored_keys_carry_their_role() -> None:
    stored = {"ro": {"hash": hash_key("k-ro", iterations=1), "role": "read"}}
    ring = KeyRing(
        {"old": hash_key("k-old", iterations=1), "ops": (hash_key("k-ops", iterations=1), "operator")},
        stored=lambda: stored,
    )
    assert ring.who("k-old") is not None and ring.who("k-old").role == "admin"  # type: ignore[union-attr]
    assert ring.who("k-ops").role == "operator"  # type: ignore[union-attr]
    assert ring.who("k-ro").role == "read"  # type: ignore[union-attr]
    assert ring.who("wrong") is None and ring.who(None) is None


def test_a_removed_stored_key_stops_working_at_the_next_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = {"ro": {"hash": hash_key("k-ro", iterations=1), "role": "read"}}
    ring = KeyRing({}, stored=lambda: dict(stored))
    assert ring.who("k-ro") is not None
    stored.clear()
    monkeypatch.setattr("pvc_api.keys.REFRESH", 0.0)
    assert ring.who("k-ro") is None


def test_an_address_that_fails_too_often_waits_and_others_do_not() -> None:
    limiter = SignInLimiter(limit=3, window=60.0)
    for _ in range(3):
        assert limiter.wait("10.0.0.9") == 0.0
        limiter.failed("10.0.0.9")
    assert 59.0 < limiter.wait("10.0.0.9") <= 60.0
    assert limiter.wait("10.0.0.8") == 0.0
