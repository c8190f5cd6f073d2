"""pvcapid's response cache: a body is built once per key, the least recently used go first."""

from __future__ import annotations

from pvc_api.registry import ResponseCache


def test_a_body_is_built_once_per_key() -> None:
    cache, built = ResponseCache(), []

    def build(text: str) -> bytes:
        built.append(text)
        return text.encode()

    assert cache.get(("vm", 1), lambda: build("one")) == b"one"
    assert cache.get(("vm", 1), lambda: build("again")) == b"one"
    assert cache.get(("vm", 2), lambda: build("two")) == b"two"
    assert built == ["one", "two"]


def test_the_least_recently_used_body_is_dropped_first() -> None:
    cache = ResponseCache(size=2)
    cache.get("a", lambda: b"a")
    cache.get("b", lambda: b"b")
    cache.get("a", lambda: b"not rebuilt")
    cache.get("c", lambda: b"c")
    assert cache.get("a", lambda: b"rebuilt") == b"a"
    assert cache.get("b", lambda: b"rebuilt") == b"rebuilt"
