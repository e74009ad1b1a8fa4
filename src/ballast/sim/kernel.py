"""The compiled backtest loop: runs ``control_tick`` over a horizon, one tick at a time.

Hand-written loop because the controller carries state (hysteresis) from tick to tick, which no
vectorised library call expresses; numba compiles it (a 1-min year is ~0.5 M ticks).
"""

from __future__ import annotations

from numba import njit

from ballast.control.rules import control_tick


@njit(cache=True)
def run_ticks(time_s, price, hashprice, ai_load_mw, renewable_mw, cap_mw, floor_mw,
              import_limit_mw, export_limit_mw, margin_mw, economic_dispatch, absorb_renewables,
              count, run_mw, sleep_mw, value_mw_per_hashprice, deadband, min_on_s, min_off_s,
              merit, econ_on, last_change_s, running, record_every,
              out_miner_mw, out_rule, out_running_mean):
    """Run ticks [0, n); write the miner total [MW] and binding rule per tick, and the mean
    running miners per group per block of ``record_every`` ticks. State arrays are updated in
    place, so consecutive chunks continue where the last one stopped."""
    n = time_s.shape[0]
    groups = count.shape[0]
    for t in range(n):
        total, rule = control_tick(
            time_s[t], price[t], hashprice[t], ai_load_mw[t], renewable_mw[t], cap_mw[t],
            floor_mw[t], import_limit_mw, export_limit_mw, margin_mw, economic_dispatch,
            absorb_renewables, count, run_mw, sleep_mw, value_mw_per_hashprice, deadband,
            min_on_s, min_off_s, merit, econ_on, last_change_s, running)
        out_miner_mw[t] = total
        out_rule[t] = rule
        b = t // record_every
        for g in range(groups):
            out_running_mean[b, g] += running[g] / record_every
