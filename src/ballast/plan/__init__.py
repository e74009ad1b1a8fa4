"""Techno-economics over a site's life: cash flows, NPV/IRR and payback of keeping the miners,
converting MW to AI hosting, or a hybrid; Bitcoin's future (halvings, price paths, hashprice).

``run_plan(load_plan("conversion_500mw"))`` returns the objects; ``ballast plan`` prints and
writes them (docs/plan.md).
"""

from __future__ import annotations

from ballast.plan.document import Plan, PlanError, load_plan, parse_plan
from ballast.plan.model import PlanResult, run_plan

__all__ = ["Plan", "PlanError", "PlanResult", "load_plan", "parse_plan", "run_plan"]
