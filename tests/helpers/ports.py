"""Every port a test listens on comes from here: the OS picks a free one (port 0), and no port is
handed out twice in one test run, so test files never collide with each other or with whatever
else runs on the machine (fixed port ranges chosen by hand once broke CI)."""

from __future__ import annotations

import socket

_given: set[int] = set()


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now, not given to another test of this run."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port


def free_ports(count: int) -> tuple[int, ...]:
    return tuple(free_port() for _ in range(count))


def free_block(size: int, start: int = 20000, stop: int = 32000) -> int:
    """The first port of ``size`` consecutive free ports (for a cluster, whose ports are offsets
    from one base), below the OS's range for port 0, none given before."""
    for base in range(start, stop - size, size):
        block = range(base, base + size)
        if not _given.intersection(block) and all(_is_free(p) for p in block):
            _given.update(block)
            return base
    raise RuntimeError(f"No {size} consecutive free ports between {start} and {stop}.")
