"""Ports for test servers: free, and outside the range outgoing connections take theirs from
(a test's connection to PostgreSQL took the port of a server still being prepared)."""

from __future__ import annotations

import socket
from pathlib import Path

from crmcore.testing import ports


def test_a_port_below_the_outgoing_range_and_free():
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chosen = {ports.free_port() for _ in range(20)}
    assert all(ports._LOW <= port < min(low, ports._HIGH + 1) for port in chosen), chosen
    for port in chosen:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: nothing holds it


def test_a_port_in_use_is_never_chosen(monkeypatch, tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        monkeypatch.setattr(ports, "_LOW", 1024)  # so that the held port may be drawn
        draws, real = iter([taken, taken]), ports.random.randint
        monkeypatch.setattr(ports.random, "randint", lambda a, b: next(draws, 0) or real(a, b))
        (tmp_path / "range").write_text("60000\t61000\n")
        monkeypatch.setattr(ports, "_EPHEMERAL", tmp_path / "range")
        assert ports.free_port() != taken


def test_without_the_range_the_kernel_chooses(monkeypatch, tmp_path):
    monkeypatch.setattr(ports, "_EPHEMERAL", tmp_path / "missing")
    monkeypatch.setattr(ports.random, "randint", _never)
    port = ports.free_port()
    assert 0 < port < 65536


def _never(*_args: object) -> int:
    raise AssertionError("no port is drawn when the range is unknown")
