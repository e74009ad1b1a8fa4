"""Shared fixtures: a fake clock and a fresh loopback /24 per test for emulated miners."""

from __future__ import annotations

import itertools
import socket

import pytest

_subnets = itertools.count(1)


class FakeClock:
    """Injected monotonic clock [s]; tests move it with ``advance``."""

    def __init__(self, t_s: float = 1000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def base_ip() -> str:
    """First address of a loopback /24 no other test in this session uses."""
    n = next(_subnets)
    return f"127.{77 + n // 250}.{n % 250}.2"


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
