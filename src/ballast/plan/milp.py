"""The conversion MILP: how many blocks of mining MW to convert to AI hosting each year and
whether to keep their miners as ballast, over S price scenarios, on HiGHS.

NPV is linear in the decisions (``ballast.plan.optimizer`` derives the coefficients from the
plan's own cash flows), so per scenario s:
``NPV_s = a_s + sum_y c[s, y] x_y + sum_y d[s, y] z_y + sum_t e[s, t] f_t`` with

- ``x_y`` (integer): blocks whose conversion starts in year y (miners retired, capex spent over
  the build years, lease from y + build years);
- ``z_y`` (integer, <= x_y): of those, blocks whose miners stay beside the AI tenant as
  ballast, hashing in its headroom;
- ``f_t`` (MW, continuous): ballast that hashes all year under the interconnect's spare MW.

Rows: the site's blocks, z <= x, total ballast, f <= ballast so far, the interconnect (site
mining MW + AI grid MW + firm ballast <= interconnect, i.e. f <= spare MW, a column bound), the
capex budget per year, tenant demand (IT MW entering service per year), the minimum
conversion, and for CVaR the Rockafellar-Uryasev rows ``u_s >= eta - NPV_s``, ``u_s >= 0``, with
objective ``eta - sum_s u_s / (alpha S)``. The build lead time closes the x columns of the
years before it, and of the years whose lease would start after the plan.

A mixed fleet (``mining.models``) is converted least efficient first, so a block's value depends
on how many blocks went before it: then binary ``b_ky`` (block k of the site, least efficient
first, starts in year y) carry the NPV, ``x_y = sum_k b_ky``, each block starts at most once and
block k + 1 never before block k (the order the plan's schedule converts in).

Money is in M USD inside the model (scaling); the matrix is scipy.sparse passed whole to HiGHS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
from scipy import sparse

from ballast.highs import new_highs

CONSTRAINTS = ("site", "lead_time", "capex_budget", "tenant_demand")


class ConversionInfeasible(ValueError):
    """No schedule meets the constraints; the message names the one that makes it so."""


class NoProvenOptimum(RuntimeError):
    """HiGHS stopped (time limit) without proving an optimum; no schedule is reported."""


@dataclass(frozen=True)
class ConversionMilp:
    """Coefficients [USD] and limits of the MILP over S scenarios and n years."""

    base_npv_usd: np.ndarray  # (S,) nothing converted
    convert_npv_usd: np.ndarray  # (S, n) per block started in year y
    ballast_npv_usd: np.ndarray  # (S, n) per block of year y kept as (headroom) ballast
    firm_npv_usd_per_mw: np.ndarray  # (S, n) per MW of ballast hashing firm in year t
    block_mw: float
    site_blocks: int
    first_start: int  # index of the first year a block may start (lead time)
    last_start: int  # index of the last (its lease starts within the plan)
    max_ballast_blocks: int
    spare_mw: float  # interconnect - site mining MW
    capex_usd_per_block: np.ndarray  # (n, n): started in year y (row), spent in year t (column)
    budget_usd: np.ndarray | None  # (n,)
    it_mw_per_block: float
    build_years: int
    demand_mw_it: np.ndarray | None  # (n,)
    min_blocks: int = 0
    min_by: int = 0  # index of the year min_blocks must be started by
    objective: str = "expected_npv"
    cvar_level: float = 0.1
    mip_rel_gap: float = 1e-6
    time_limit_s: float = 60.0
    # a mixed fleet: (S, site_blocks, n) per block k (least efficient first) started in year y;
    # it replaces convert_npv_usd in the NPV (None: every block is alike)
    slice_npv_usd: np.ndarray | None = None


@dataclass(frozen=True)
class MilpSolution:
    """The optimum: blocks started and kept as ballast per year, firm ballast MW per year, NPV
    per scenario [USD], objective [USD], and the solve's size and gap."""

    convert_blocks: np.ndarray
    ballast_blocks: np.ndarray
    firm_mw: np.ndarray
    npv_usd: np.ndarray
    objective_usd: float
    status: str
    mip_gap: float
    nodes: int
    solve_s: float
    rows: int
    columns: int
    integer_columns: int
    nonzeros: int


def scenario_npv_usd(m: ConversionMilp, x, z, f) -> np.ndarray:
    """NPV per scenario [USD] of a decision (the linear form the MILP optimises)."""
    rest = m.ballast_npv_usd @ z + m.firm_npv_usd_per_mw @ f
    if m.slice_npv_usd is None:
        return m.base_npv_usd + m.convert_npv_usd @ x + rest
    start = np.repeat(np.arange(len(x)), np.asarray(x, dtype="int64"))  # block k's year, in order
    return m.base_npv_usd + m.slice_npv_usd[:, np.arange(len(start)), start].sum(axis=1) + rest


def objective_usd(m: ConversionMilp, npv_usd: np.ndarray) -> float:
    """The objective of NPVs per scenario: their mean, or the mean of the worst ``cvar_level``
    share (CVaR, with the fractional scenario at the boundary weighted in)."""
    if m.objective == "expected_npv":
        return float(np.mean(npv_usd))
    return cvar_usd(npv_usd, m.cvar_level)


def cvar_usd(npv_usd: np.ndarray, level: float) -> float:
    """Mean of the worst ``level`` share of equally likely outcomes (lower tail)."""
    v = np.sort(np.asarray(npv_usd, dtype="float64"))
    k = level * len(v)
    whole = int(np.floor(k + 1e-12))
    tail = v[:whole].sum() + (k - whole) * (v[whole] if whole < len(v) else 0.0)
    return float(tail / k)


def build(m: ConversionMilp, relax: tuple[str, ...] = (), feasibility: bool = False):
    """The MILP in HiGHS's column-wise form (maximise) and its row groups {name: rows}.
    ``relax`` drops constraint groups (for naming the one that makes it infeasible);
    ``feasibility`` replaces the objective by zero."""
    s_count, n = m.convert_npv_usd.shape
    cvar = m.objective == "cvar" and not feasibility
    ox, oz, of = 0, n, 2 * n
    o_eta = 3 * n
    ncol = 3 * n + (1 + s_count if cvar else 0)
    slices = None if feasibility else m.slice_npv_usd  # the blocks' order bounds no count
    n_blocks = 0 if slices is None else slices.shape[1]
    ob = ncol  # b_ky at ob + k * n + y
    ncol += n_blocks * n
    scale = 1e-6  # M USD
    lo, hi, cost = np.zeros(ncol), np.zeros(ncol), np.zeros(ncol)
    first = 0 if "lead_time" in relax else m.first_start
    site_blocks = 10**6 if "site" in relax else m.site_blocks
    hi[ox + first : ox + m.last_start + 1] = site_blocks
    hi[oz : oz + n] = hi[ox : ox + n] if m.max_ballast_blocks > 0 else 0.0
    hi[of : of + n] = max(m.spare_mw, 0.0)  # the interconnect row, as a bound
    if cvar:
        lo[o_eta], hi[o_eta] = -np.inf, np.inf
        hi[o_eta + 1 : ob] = np.inf
        cost[o_eta] = 1.0
        cost[o_eta + 1 : ob] = -1.0 / (m.cvar_level * s_count)
    elif not feasibility:
        if slices is None:
            cost[ox : ox + n] = scale * m.convert_npv_usd.mean(axis=0)
        else:
            cost[ob:] = scale * slices.mean(axis=0).ravel()
        cost[oz : oz + n] = scale * m.ballast_npv_usd.mean(axis=0)
        cost[of : of + n] = scale * m.firm_npv_usd_per_mw.mean(axis=0)
    for k in range(n_blocks):  # a block may start where an x may
        hi[ob + k * n : ob + (k + 1) * n] = np.minimum(hi[ox : ox + n], 1.0)
    rows, cols, vals, rlo, rhi = [], [], [], [], []
    groups: dict[str, list[int]] = {}

    def add(group: str, entries: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(rlo)
        groups.setdefault(group, []).append(r)
        for c, v in entries:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        rlo.append(low)
        rhi.append(high)

    t = range(n)
    if "site" not in relax:
        add("site", [(ox + y, 1.0) for y in t], -np.inf, m.site_blocks)
    for y in t:
        add("ballast", [(oz + y, 1.0), (ox + y, -1.0)], -np.inf, 0.0)
    add("ballast", [(oz + y, 1.0) for y in t], -np.inf, m.max_ballast_blocks)
    for k in t:
        add("firm", [(of + k, 1.0)] + [(oz + y, -m.block_mw) for y in range(k + 1)], -np.inf, 0.0)
    if m.budget_usd is not None and "capex_budget" not in relax:
        for k in t:
            spend = scale * m.capex_usd_per_block[:, k]
            entries = [(ox + y, spend[y]) for y in t if spend[y]]
            add("capex_budget", entries, -np.inf, scale * m.budget_usd[k])
    if m.demand_mw_it is not None and "tenant_demand" not in relax:
        for k in range(m.build_years, n):
            add("tenant_demand", [(ox + k - m.build_years, m.it_mw_per_block)], -np.inf, m.demand_mw_it[k])
    if m.min_blocks > 0:
        add("min_convert", [(ox + y, 1.0) for y in range(m.min_by + 1)], m.min_blocks, np.inf)
    for y in t if slices is not None else ():  # x_y = sum_k b_ky
        add("blocks", [(ox + y, 1.0)] + [(ob + k * n + y, -1.0) for k in range(n_blocks)], 0.0, 0.0)
    for k in range(n_blocks):  # once, and block k + 1 by year y only if block k is
        add("blocks", [(ob + k * n + y, 1.0) for y in t], -np.inf, 1.0)
        for y in t if k + 1 < n_blocks else ():
            entries = [(ob + (k + 1) * n + j, 1.0) for j in range(y + 1)]
            add("blocks", entries + [(ob + k * n + j, -1.0) for j in range(y + 1)], -np.inf, 0.0)
    if cvar:  # u_s - eta + NPV_s >= 0, NPV_s = a_s + c_s x + d_s z + e_s f (in M USD)
        convert = m.convert_npv_usd if slices is None else np.zeros_like(m.convert_npv_usd)
        dense = scale * np.hstack((convert, m.ballast_npv_usd, m.firm_npv_usd_per_mw))
        if slices is not None:
            dense = np.hstack((dense, np.zeros((s_count, 1 + s_count)), scale * slices.reshape(s_count, -1)))
        r0 = len(rlo)
        rr, cc = np.nonzero(dense)
        rows += list(r0 + rr) + list(r0 + np.arange(s_count)) * 2
        cols += list(cc) + [o_eta] * s_count + list(o_eta + 1 + np.arange(s_count))
        vals += list(dense[rr, cc]) + [-1.0] * s_count + [1.0] * s_count
        rlo += list(-scale * m.base_npv_usd)
        rhi += [np.inf] * s_count
        groups["cvar"] = list(range(r0, r0 + s_count))
    a = sparse.csc_array((vals, (rows, cols)), shape=(len(rlo), ncol))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, len(rlo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lo, hi
    lp.row_lower_, lp.row_upper_ = np.asarray(rlo, dtype="float64"), np.asarray(rhi, dtype="float64")
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [integer] * (2 * n) + [continuous] * (ob - 2 * n) + [integer] * (ncol - ob)
    return lp, groups


def _run(m: ConversionMilp, lp: highspy.HighsLp) -> tuple[highspy.Highs, str]:
    h = new_highs()
    h.setOptionValue("mip_rel_gap", float(m.mip_rel_gap))
    h.setOptionValue("time_limit", float(m.time_limit_s))
    h.passModel(lp)
    h.run()
    return h, h.modelStatusToString(h.getModelStatus())


def feasible(m: ConversionMilp, relax: tuple[str, ...] = ()) -> bool:
    """Whether some schedule meets the constraints (less the ``relax`` groups)."""
    lp, _ = build(m, relax, feasibility=True)
    h, _ = _run(m, lp)
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def solve(m: ConversionMilp) -> MilpSolution:
    """The optimum, or ``ConversionInfeasible`` (``binding_constraints`` says why) or
    ``NoProvenOptimum`` when HiGHS proves none within the time limit."""
    t0 = time.perf_counter()
    lp, _ = build(m)
    h, label = _run(m, lp)
    status = h.getModelStatus()
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise ConversionInfeasible(label)
    if status != highspy.HighsModelStatus.kOptimal:
        raise NoProvenOptimum(
            f"HiGHS stopped without a proven optimum: {label} (time limit {m.time_limit_s:g} s); "
            "no schedule is reported"
        )
    n = m.convert_npv_usd.shape[1]
    x_all = np.asarray(h.getSolution().col_value)
    x = np.round(x_all[:n])
    z = np.round(x_all[n : 2 * n])
    # firm ballast at its most: never worse in any scenario (ballast_uptime <= mining.uptime),
    # and what the plan's schedule does; the CVaR optimum may leave it lower where only the
    # scenarios outside the tail would gain
    f = np.minimum(np.cumsum(z) * m.block_mw, max(m.spare_mw, 0.0))
    npv = scenario_npv_usd(m, x, z, f)
    info = h.getInfo()
    return MilpSolution(
        convert_blocks=x.astype("int64"),
        ballast_blocks=z.astype("int64"),
        firm_mw=f,
        npv_usd=npv,
        objective_usd=objective_usd(m, npv),
        status=label,
        mip_gap=float(info.mip_gap),
        nodes=int(info.mip_node_count),
        solve_s=time.perf_counter() - t0,
        rows=lp.num_row_,
        columns=lp.num_col_,
        integer_columns=2 * n + (0 if m.slice_npv_usd is None else m.slice_npv_usd[0].size),
        nonzeros=len(lp.a_matrix_.value_),
    )


def binding_constraints(m: ConversionMilp) -> list[str]:
    """The constraint groups whose removal alone makes an infeasible MILP feasible; when no
    single one does, every group the plan sets (they make it infeasible together)."""
    present = {
        "site": True,
        "lead_time": m.first_start > 0,
        "capex_budget": m.budget_usd is not None,
        "tenant_demand": m.demand_mw_it is not None,
    }
    alone = [c for c in CONSTRAINTS if present[c] and feasible(m, (c,))]
    return alone or [c for c in CONSTRAINTS if present[c]]


def most_blocks_by(m: ConversionMilp) -> int:
    """The most blocks that can be started by year index ``min_by`` under every constraint."""
    n = m.convert_npv_usd.shape[1]
    unit = np.zeros((1, n))
    unit[0, : m.min_by + 1] = 1.0
    zeros = np.zeros((1, n))
    probe = replace(
        m,
        base_npv_usd=np.zeros(1),
        convert_npv_usd=unit * 1e6,
        ballast_npv_usd=zeros,
        firm_npv_usd_per_mw=zeros,
        slice_npv_usd=None,
        min_blocks=0,
        objective="expected_npv",
    )
    return int(solve(probe).convert_blocks[: m.min_by + 1].sum())
