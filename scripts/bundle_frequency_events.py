"""Write the SYNTHETIC frequency-event shapes to src/ballast/data/bundled (developer script).

No measured ERCOT frequency data could be found (docs/sources.md#frequency-data); the shapes come from
``ballast.programs.frequency`` and are labelled synthetic in PROVENANCE.md.
"""

from __future__ import annotations

from pathlib import Path

from ballast.programs.frequency import synthetic_events_frame

OUT = Path(__file__).resolve().parents[1] / "src" / "ballast" / "data" / "bundled"

if __name__ == "__main__":
    synthetic_events_frame().to_parquet(OUT / "frequency_events_synthetic.parquet", index=False)
