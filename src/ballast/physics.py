"""Site physics: the one place for the arithmetic of power, energy, BTC and money per interval.

Small pure functions, each one fact. ``numba.extending.register_jitable`` makes every one
callable both from numba kernels (the rule stack, the miner plant, the backtest loops) and from
plain Python over numpy arrays or scalars (the engine, the KPIs, the live devices). Powers are
facility MW, import positive; money is nominal USD.

Hand-written because the facts are the project's own model (no library holds them); numba
supplies the compilation.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

W_PER_MW = 1e6


@register_jitable
def facility_mw(it_mw, pue):
    """Facility power [MW] of an IT load [MW] at power usage effectiveness ``pue`` [-]."""
    return it_mw * pue


@register_jitable
def miner_facility_mw(wall_w, pue):
    """Facility power [MW] of one miner drawing ``wall_w`` [W] at the wall, cooling by ``pue``."""
    return wall_w * pue / W_PER_MW


@register_jitable
def group_power_mw(running, count, running_mw, sleep_mw):
    """Power [MW] of a group of ``count`` miners with ``running`` hashing at ``running_mw`` each
    and the rest asleep at ``sleep_mw`` each (scalars or arrays that broadcast)."""
    return running * running_mw + (count - running) * sleep_mw


@register_jitable
def hashing_miners(group_power_mw, count, running_mw, sleep_mw):
    """Miners hashing [-] (fractional: an interval mean, or a group between states) in a group
    drawing ``group_power_mw`` [MW]: the inverse of ``group_power_mw``, held within
    [0, ``count``]. A group whose miners draw as much running as asleep counts as 0 hashing
    (the span is held at least 1e-12 MW)."""
    span = np.maximum(running_mw - sleep_mw, 1e-12)
    return np.minimum(np.maximum((group_power_mw - count * sleep_mw) / span, 0.0), count)


@register_jitable
def import_mw(load_mw, renewable_mw):
    """Net import [MW] of a site drawing ``load_mw`` with ``renewable_mw`` behind the meter
    (negative = export), before any export limit."""
    return load_mw - renewable_mw


@register_jitable
def within_export_limit_mw(net_import_mw, export_limit_mw):
    """Net import [MW] clipped at the export limit: generation that can be neither used nor
    exported is curtailed, so the import never falls below ``-export_limit_mw``."""
    return np.maximum(net_import_mw, -export_limit_mw)


@register_jitable
def export_curtailed_mw(net_import_mw, export_limit_mw):
    """Generation [MW] curtailed because the net export would pass ``export_limit_mw``."""
    return np.maximum(-net_import_mw - export_limit_mw, 0.0)


@register_jitable
def imported_mw(net_import_mw):
    """Import [MW, positive] of a net import (an export imports nothing)."""
    return np.maximum(net_import_mw, 0.0)


@register_jitable
def export_mw(net_import_mw):
    """Export [MW, positive] of a net import (negative import is export)."""
    return np.maximum(-net_import_mw, 0.0)


@register_jitable
def energy_cost_usd(import_mw, price_usd_per_mwh, interval_h, export_price_share):
    """Energy cost [USD] of one interval: import [MW, positive] at the price, export
    (negative import) paid ``export_price_share`` of it (a negative cost)."""
    billed_mw = np.where(import_mw >= 0, import_mw, import_mw * export_price_share)
    return billed_mw * price_usd_per_mwh * interval_h


@register_jitable
def btc_mined(hashrate_th_s, btc_per_th_day, interval_h):
    """BTC mined [BTC, before pool fee] by ``hashrate_th_s`` [TH/s] in an interval of
    ``interval_h`` hours at the network's yield ``btc_per_th_day`` [BTC per TH/s per day]."""
    return btc_per_th_day * hashrate_th_s * (interval_h / 24.0)


@register_jitable
def after_pool_fee(btc, pool_fee_share):
    """BTC [BTC] the miner keeps after the pool's fee ``pool_fee_share`` [-]."""
    return btc * (1.0 - pool_fee_share)


@register_jitable
def mining_revenue_usd(btc, btc_price_usd):
    """Mining revenue [USD] of ``btc`` [BTC, after pool fee] at ``btc_price_usd`` [USD/BTC]."""
    return btc * btc_price_usd


@register_jitable
def battery_max_discharge_mw(stored_mwh, interval_h, one_way_efficiency):
    """Most a battery holding ``stored_mwh`` [MWh] above its floor can deliver [MW] for
    ``interval_h`` hours when the cells lose ``1 - one_way_efficiency`` of what they give."""
    return stored_mwh * one_way_efficiency / interval_h


@register_jitable
def battery_stored_change_mwh(power_mw, interval_h, one_way_efficiency):
    """Change of stored energy [MWh] over ``interval_h`` hours at terminal power ``power_mw``
    [MW, discharge positive]: a discharge draws power/efficiency from the cells, a charge
    stores power x efficiency (one-way efficiency = sqrt(round trip))."""
    if power_mw > 0.0:
        return -power_mw * interval_h / one_way_efficiency
    return -power_mw * interval_h * one_way_efficiency
