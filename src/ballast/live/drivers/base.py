"""Miner driver capabilities as small typing.Protocol classes, and the reading they return.

A controller asks for the capability it needs (``CanSleep``, ``CanSetPowerTarget``...) rather
than for a vendor class, so a firmware that only sleeps can still serve as ballast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class MinerReading:
    """One read-back of a miner. Power is wall power drawn (a load: positive)."""

    ip: str
    power_w: float
    hashrate_th_s: float
    asleep: bool
    profile: str
    read_at: datetime  # UTC


@runtime_checkable
class ReadsMiner(Protocol):
    async def read(self) -> MinerReading:
        """Read power, hashrate and sleep state."""
        ...


@runtime_checkable
class CanSleep(Protocol):
    async def sleep(self) -> None:
        """Curtail: hashboards off, a few tens of watts remain."""
        ...


@runtime_checkable
class CanWake(Protocol):
    async def wake(self) -> None:
        """Resume mining from sleep."""
        ...


@runtime_checkable
class CanSetProfile(Protocol):
    async def set_profile(self, name: str) -> None:
        """Switch to a named firmware profile (frequency step)."""
        ...


@runtime_checkable
class CanSetPowerTarget(Protocol):
    async def set_power_target(self, power_w: float) -> str:
        """Move towards ``power_w`` [W]; return the profile or mode chosen."""
        ...


class MinerDriverError(Exception):
    """A miner did not do what was asked."""


class MinerTimeout(MinerDriverError):
    """No (complete) reply within the timeout."""


class MinerRefused(MinerDriverError):
    """The TCP connection was refused or reset: miner down or rebooting."""


class MinerIgnored(MinerDriverError):
    """The miner acknowledged a command but its state shows it did not act on it."""


class MinerApiError(MinerDriverError):
    """The miner answered with STATUS E/W, or an unparseable reply."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
