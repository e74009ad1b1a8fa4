"""The controller: a rule stack on a frozen snapshot, shared by backtest and live runtime."""

from ballast.control.controller import (
    ControllerConfig,
    ControllerState,
    Decision,
    GroupParams,
    Snapshot,
    step,
)
from ballast.control.rules import RULE_NAMES

__all__ = ["RULE_NAMES", "ControllerConfig", "ControllerState", "Decision", "GroupParams",
           "Snapshot", "step"]
