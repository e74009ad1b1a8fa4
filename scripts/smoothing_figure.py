"""Draw docs/img/smoothing.png: what miners fix, what they cannot, and what they earn against a
GPU power floor, on the bundled training campus (one day at 1 s). Needs ``pip install .[docs]``.

    python scripts/smoothing_figure.py [--out docs/img/smoothing.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ballast.examples import examples_dir
from ballast.report.smoothing import CASE_COLOURS, busiest_window
from ballast.scenario import load_scenario
from ballast.sim.smoothing import compare_cases

ROOT = Path(__file__).resolve().parents[1]


def steady_minute(ai_mw: np.ndarray, amp: float, after: int, span: int = 60) -> slice:
    """The first ``span`` ticks after ``after`` where the job trains steadily (no checkpoint,
    crash or ramp): the AI stays between its swing low and its full power."""
    full = float(ai_mw.max())
    ok = ai_mw >= (1 - amp) * full - 1e-3
    for start in range(after, len(ai_mw) - span):
        if ok[start:start + span].all() and ai_mw[start:start + span].max() >= full - 1e-3:
            return slice(start, start + span)
    return slice(0, span)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "smoothing.png")
    args = ap.parse_args()
    scn = load_scenario(examples_dir() / "training_campus.yaml")
    table, runs = compare_cases(scn)
    base = runs["none"].run
    dt = base.dt_s
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.2), dpi=110)

    # (a) what miners fix: a job crash and restart seen at the grid (12-s means hide the swing)
    ax = axes[0, 0]
    w = busiest_window(base.ai_mw, dt, 1800)
    t = (np.arange(w.start, w.stop) - w.start) * dt / 60
    k = max(1, int(12 / dt))  # three 4-s swing periods

    def smooth(x):
        return np.convolve(np.asarray(x[w], dtype=float), np.ones(k) / k, mode="same")

    ax.plot(t, smooth(base.ai_mw), color="#7c3aed", lw=1, label="AI load")
    for name in ("none", "miners", "miners+battery"):
        ax.plot(t, smooth(runs[name].run.import_mw), color=CASE_COLOURS[name], lw=1.3,
                label=f"import: {name}")
    ax.set(title="What miners fix: a job crash and restart (12-s means)", xlabel="minutes",
           ylabel="MW")
    ax.legend(fontsize=8, loc="lower left")

    # (b) what they cannot: the 0.25 Hz iteration swing passes through; battery/floor act there
    ax = axes[0, 1]
    quiet = steady_minute(base.ai_mw, scn.ai.training.swing_amplitude_share, w.stop)
    t = np.arange(quiet.stop - quiet.start) * dt
    for name, style in (("floor", "-"), ("battery", "-"), ("miners", "-"), ("none", "--")):
        ax.step(t, runs[name].run.import_mw[quiet], where="post", color=CASE_COLOURS[name],
                lw=1.3, ls=style, label=name)
    ax.set(title="What they cannot: the 4-s iteration swing (miners asleep as reserve)",
           xlabel="seconds", ylabel="import MW")
    ax.legend(fontsize=8, loc="lower left")

    # (c) compliance per case
    ax = axes[1, 0]
    cases = [c for c in table.columns if c != "unit"]
    y = np.arange(len(cases))
    ax.barh(y - 0.2, table.loc["minutes_ramp_violation", cases], 0.4, color="#f97316",
            label="minutes over the 1-min ramp limit")
    ax.barh(y + 0.2, table.loc["band_rms_mw", cases], 0.4, color="#0ea5e9",
            label="RMS of the 0.1-0.5 Hz oscillation, MW (Nyquist at 1 s)")
    ax.set_yticks(y, cases, fontsize=8)
    ax.invert_yaxis()
    ax.set(title=f"Compliance over one day (spec {scn.smoothing.ramp_up_mw_per_s:g} MW/s per min)")
    ax.legend(fontsize=8, loc="lower right")

    # (d) money: filling the dips with a floor burns energy; with miners it earns hashprice
    ax = axes[1, 1]
    bars = [("GPU floor 90%", -table.loc["floor_burn_cost_usd", "floor"],
             f"{table.loc['floor_burn_mwh', 'floor']:.0f} MWh burned", "#ef4444"),
            ("miners", table.loc["mining_margin_usd", "miners"],
             f"{table.loc['miner_energy_mwh', 'miners']:.0f} MWh, "
             f"{table.loc['btc_mined', 'miners']:.2f} BTC", "#f59e0b"),
            ("miners+battery", table.loc["mining_margin_usd", "miners+battery"],
             f"{table.loc['miner_energy_mwh', 'miners+battery']:.0f} MWh, "
             f"{table.loc['btc_mined', 'miners+battery']:.2f} BTC", "#0ea5e9")]
    for i, (_label, usd, note, colour) in enumerate(bars):
        ax.bar(i, usd / 1e3, 0.6, color=colour)
        ax.annotate(note, (i, usd / 1e3), ha="center", va="bottom" if usd > 0 else "top",
                    fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=9)
    free = table.loc["mining_margin_usd", "none"] - table.loc["mining_margin_usd", "miners"]
    ax.set(title="Filling the dips: the floor burns, miners earn (k USD/day)",
           ylabel="k USD per day")
    ax.text(0.35, 0.25, f"Holding the crash reserve forgoes {free / 1e3:,.0f} k USD/day of "
            "mining\nagainst miners running freely with no smoothing.", transform=ax.transAxes,
            va="top", fontsize=8)

    fig.suptitle("Training campus: 150 MW job, 60 MW miners, 20 MW/10 MWh battery, 1 s, "
                 "ERCOT 2024-07-01", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
