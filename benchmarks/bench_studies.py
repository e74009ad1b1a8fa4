"""Grid studies: flexible-load headroom of one BA over nine years at four rates (goal <= 0.5 s).
One JSON line each."""

from __future__ import annotations

import json
import time

from ballast.studies.headroom_study import headroom_study


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"benchmark": name, "value": round(value, 4), "unit": unit}), flush=True)


def best_of(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    headroom_study("ERCO")  # warm-up (imports, parquet reader)
    emit("study_headroom_erco_9y_4rates", best_of(lambda: headroom_study("ERCO")), "s")
    emit("study_headroom_pjm_9y_4rates", best_of(lambda: headroom_study("PJM")), "s")


if __name__ == "__main__":
    main()
