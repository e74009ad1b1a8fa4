"""One visual language for the backtest report and the live dashboard: colours, names, units.

The dashboard's JavaScript reads the same table (served as JSON), so a user moving between
them sees AI in the same violet, miners in greens, renewables in amber and the grid in blue.
"""

from __future__ import annotations

ASSET_COLOURS: dict[str, str] = {
    "ai": "#7c3aed",  # AI/HPC tenant
    "renewable": "#f59e0b",  # wind/solar behind the meter
    "import": "#2563eb",  # net grid import
    "limit": "#dc2626",  # interconnect limit
    "baseline": "#6b7280",  # business-as-usual baseline
    "price": "#111827",
    "hashprice": "#0f766e",
    "margin": "#16a34a",
}
# Miner groups in merit order (most efficient first): darkest green first.
MINER_PALETTE = ("#14532d", "#15803d", "#22c55e", "#4ade80", "#86efac", "#0d9488", "#5eead4",
                 "#a3e635")
ASSET_LABELS: dict[str, str] = {
    "ai": "AI / HPC load",
    "renewable": "Renewables",
    "import": "Net import",
    "limit": "Import limit",
    "baseline": "Baseline",
}
FONT = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def miner_colour(position_in_merit_order: int) -> str:
    """Colour of the miner group at this position of the merit order (0 = most efficient)."""
    return MINER_PALETTE[position_in_merit_order % len(MINER_PALETTE)]


def style_table() -> dict:
    """JSON-ready style for other front ends (the dashboard)."""
    return {"assets": ASSET_COLOURS, "miners": list(MINER_PALETTE), "labels": ASSET_LABELS,
            "font": FONT}
