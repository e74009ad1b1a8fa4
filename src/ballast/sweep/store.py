"""The sweep's output folder, written as results arrive so an interrupted sweep loses nothing
that had finished.

- ``sweep.json``: the sweep (name, fingerprint of its runs, parameter columns, KPI units);
- ``parts/runs-*.parquet``: one file per finished task, written atomically (temp + rename);
- ``failures.csv``: one line per failed run, appended and flushed as failures arrive;
- ``runs.parquet``: every stored run, one row each, sorted by run (consolidated at the end from
  the parts and the previous ``runs.parquet``).
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ballast.sweep.document import SweepError, SweepPlan

STORE_SCHEMA = "ballast.sweep-store/1"


def check_out_dir(out_dir: Path, plan: SweepPlan, *, resume: bool) -> dict:
    """The stored sweep's metadata ({} for a new folder); refuses a folder that holds another
    sweep, or any sweep without ``resume``."""
    meta_path = out_dir / "sweep.json"
    if not meta_path.exists():
        return {}
    meta = json.loads(meta_path.read_text())
    if not resume:
        raise SweepError(f"{out_dir}: already holds a sweep ({meta.get('name')!r}); "
                         "pass --resume to continue it, or choose another --out")
    if meta.get("fingerprint") != plan.fingerprint:
        raise SweepError(f"{out_dir}: holds a different sweep ({meta.get('name')!r}, runs "
                         f"{meta.get('fingerprint')} vs {plan.fingerprint}); its runs would mix "
                         "with these. Choose another --out")
    return meta


def _arrow_table(rows: list[dict]) -> pa.Table:
    """The rows as an Arrow table, every column any row has (in first-seen order; a row without
    it holds null). Straight to Arrow: a third of the client's CPU of going through pandas
    (about 6 vs 20 ms a task of 7 runs x 100 columns), taken from the cores the workers use."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({c: [row.get(c) for row in rows] for c in columns})


class SweepStore:
    """Append-as-you-go writer of one sweep's results."""

    def __init__(self, out_dir: Path, plan: SweepPlan, *, resume: bool) -> None:
        self.out = out_dir
        self.plan = plan
        self.parts = out_dir / "parts"
        self.meta_path = out_dir / "sweep.json"
        self.session = uuid.uuid4().hex[:8]
        self.count = 0
        self.units: dict[str, str] = {}
        self.units = dict(check_out_dir(out_dir, plan, resume=resume).get("units", {}))
        self.parts.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        fail_cols = ["run", "run_id", *plan.param_columns, "error", "where"]
        self.failures_path = out_dir / "failures.csv"
        self._fail_file = self.failures_path.open("w", newline="", encoding="utf-8")
        self._fail = csv.DictWriter(self._fail_file, fieldnames=fail_cols)
        self._fail.writeheader()
        self._fail_file.flush()

    def _write_meta(self) -> None:
        meta = {"schema": STORE_SCHEMA, "name": self.plan.sweep.name,
                "fingerprint": self.plan.fingerprint, "runs": len(self.plan.runs),
                "base": str(self.plan.base_path), "param_columns": self.plan.param_columns,
                "sweep": self.plan.sweep.model_dump(mode="json"), "units": self.units}
        tmp = self.meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, self.meta_path)

    def stored(self) -> pd.DataFrame:
        """Every run stored so far (runs.parquet and parts), one row per run."""
        frames = []
        main = self.out / "runs.parquet"
        if main.exists():
            frames.append(pd.read_parquet(main))
        frames += [pd.read_parquet(p) for p in sorted(self.parts.glob("runs-*.parquet"))]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=["run", "run_id"])
        out = pd.concat(frames, ignore_index=True).drop_duplicates("run", keep="first")
        return out.sort_values("run", kind="stable").reset_index(drop=True)

    def stored_ids(self) -> set[str]:
        return set(self.stored()["run_id"])

    def add(self, rows: list[dict], failures: list[dict], units: dict[str, str]) -> None:
        """Store one task's results: its rows as a new part file, its failures appended."""
        if rows:
            self.count += 1
            final = self.parts / f"runs-{self.session}-{self.count:05d}.parquet"
            tmp = final.with_suffix(".tmp")
            pq.write_table(_arrow_table(rows), tmp)
            os.replace(tmp, final)
        for f in failures:
            self._fail.writerow({k: f.get(k) for k in self._fail.fieldnames})
        if failures:
            self._fail_file.flush()
        if set(units) - set(self.units):
            self.units.update(units)
            self._write_meta()

    def close(self) -> None:
        if not self._fail_file.closed:
            self._fail_file.close()

    def consolidate(self) -> pd.DataFrame:
        """Write runs.parquet (every stored run, sorted) and drop the part files it holds."""
        self.close()
        runs = self.stored()
        table = pa.Table.from_pandas(runs, preserve_index=False)
        meta = {**(table.schema.metadata or {}), b"ballast.sweep": json.dumps(
            {"name": self.plan.sweep.name, "param_columns": self.plan.param_columns,
             "units": self.units}).encode()}
        tmp = self.out / "runs.parquet.tmp"
        pq.write_table(table.replace_schema_metadata(meta), tmp)
        os.replace(tmp, self.out / "runs.parquet")
        for p in self.parts.glob("runs-*.parquet"):
            p.unlink()
        return runs

    def failures(self) -> pd.DataFrame:
        return pd.read_csv(self.failures_path)
