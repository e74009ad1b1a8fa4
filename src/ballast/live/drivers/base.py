"""What every miner driver returns (``MinerReading``) and raises (``MinerDriverError`` and its
kinds). The runtime's device contract is fleet-level: ``live.interfaces.MinerFleet`` (and the
optional ``KeepsSessions``); the per-miner capability protocols that used to live here were
used by no caller and were removed (issue 17: dead code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MinerReading:
    """One read-back of a miner. Power is wall power drawn (a load: positive)."""

    ip: str
    power_w: float
    hashrate_th_s: float
    asleep: bool
    profile: str
    read_at: datetime  # UTC
    # True when ``asleep`` is the firmware's own curtail state (LuxOS ``CurtailMode``); False
    # when it is inferred, and a sleep can only be judged by power after the ramp
    # (``drivers.capabilities``). False, the cautious reading, unless a driver knows better.
    curtail_state_reported: bool = False


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
