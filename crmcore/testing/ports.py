"""Ports for the servers that tests start on 127.0.0.1."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: where Linux keeps the range it takes the source ports of outgoing connections from
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: the ports chosen from when that range starts above them (as it does by default: 32768)
_LOW, _HIGH = 20000, 32767


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, outside the range of outgoing connections' ports.

    A port the kernel hands out for ``bind(0)`` comes from the same range as the source port
    of every outgoing connection, so in the seconds between choosing it and a server binding
    it (an instance prepared first, say) any connection made on the machine could take it, and
    the server fail with "address already in use". A port below that range is taken only by
    another listener; it is chosen at random and checked free. Where the range is unknown or
    leaves no room below, the kernel's choice as before.
    """
    try:
        low = int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low > _LOW + 1000:
        for _ in range(100):
            port = random.randint(_LOW, min(_HIGH, low - 1))
            if _bindable(port):
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
