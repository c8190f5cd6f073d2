"""A precise pinger for the network benchmarks: ICMP echo every ``interval`` seconds from inside a network
namespace (a thread that entered it), recording which sequence numbers were answered.

busybox's ping writes its answers through a buffer when its output is a file, which hides when they came;
this one keeps them in memory with their times.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

from pvc_core.networks.linux import enter_netns


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class Pinger:
    def __init__(self, netns: str, address: str, interval: float = 0.1) -> None:
        self.netns = netns
        self.address = address
        self.interval = interval
        self.sent: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._identifier = os.getpid() & 0xFFFF
        self._thread = threading.Thread(target=self._run, name="pinger", daemon=True)
        self._receiver: threading.Thread | None = None

    def start(self) -> Pinger:
        self._thread.start()
        self._ready.wait(5)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop, and wait for both threads: a thread inside the namespace keeps it (and its links) alive."""
        self._stop.set()
        self._thread.join(timeout=5)
        if self._receiver is not None:
            self._receiver.join(timeout=5)

    def _run(self) -> None:
        try:
            enter_netns(self.netns)
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._receiver = threading.Thread(target=self._receive, args=(sock,), name="pinger-receive", daemon=True)
        self._receiver.start()
        sequence = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            header = struct.pack("!BBHHH", 8, 0, 0, self._identifier, sequence & 0xFFFF)
            payload = struct.pack("!d", time.monotonic())
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), self._identifier, sequence & 0xFFFF)
            try:
                sock.sendto(packet + payload, (self.address, 0))
                self.sent[sequence] = time.monotonic()
            except OSError:
                pass  # no route for a moment: counts as unanswered
            sequence += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        if self._receiver is not None:
            self._receiver.join(timeout=5)
        sock.close()

    def _receive(self, sock: socket.socket) -> None:
        sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data, _ = sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                return
            header = (data[0] & 0x0F) * 4
            kind, _code, _sum, identifier, sequence = struct.unpack("!BBHHH", data[header : header + 8])
            if kind == 0 and identifier == self._identifier:
                self.answered.setdefault(sequence, time.monotonic())

    def last_answered(self) -> int:
        return max(self.answered, default=-1)

    def outage_since(self, sequence: int) -> float | None:
        """Seconds of pings unanswered among those sent after ``sequence`` up to the last answered one (None
        while none answered after it)."""
        last = self.last_answered()
        if last <= sequence:
            return None
        lost = sum(1 for s in range(sequence + 1, last + 1) if s in self.sent and s not in self.answered)
        return round(lost * self.interval, 2)
