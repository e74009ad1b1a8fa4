"""``HttpCsvValue``: one number from any HTTP CSV endpoint (a REP's or QSE's price file): the
header line names the columns; the value is ``column`` of the last data line (``row: last``) or
of the row with the latest ``time_column`` (``row: latest``). Parsed with the standard library's
``csv`` module. Every refusal names the URL, the column and the line (1 = the header).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from ballast.live.market.config import CsvValue
from ballast.live.market.sources import FeedError, env_headers, finite_number, get_ok, parse_time_s


def csv_time_s(text: str, what: str) -> float:
    """A CSV cell's time: UNIX seconds, or ISO-8601 with an offset."""
    try:
        return finite_number(text, what)
    except FeedError:
        return parse_time_s(text.strip(), what)


def csv_value(text: str, cfg: CsvValue, url: str) -> tuple[float, float | None]:
    """(value x scale, its time [UNIX s] or None without ``time_column``) from a CSV document."""
    reader = csv.reader(io.StringIO(text), delimiter=cfg.delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FeedError(f"{url}: the CSV answer is empty")
        header = [h.strip() for h in header]
        cols = {}
        for name in (cfg.column, cfg.time_column):
            if name is not None and name not in header:
                raise FeedError(f"{url}: no column {name!r} in the header (line 1: {header})")
            if name is not None:
                cols[name] = header.index(name)
        best: tuple[int, list[str], float | None] | None = None  # (line, row, time)
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue  # a blank line carries nothing
            line = reader.line_num
            if len(row) != len(header):
                raise FeedError(f"{url}: line {line} has {len(row)} fields, the header {len(header)}")
            t = None
            if cfg.time_column is not None:
                t = csv_time_s(row[cols[cfg.time_column]], f"{url} column {cfg.time_column!r} line {line}")
            if best is None or cfg.row == "last" or (t is not None and best[2] is not None and t >= best[2]):
                best = (line, row, t)
    except csv.Error as e:
        raise FeedError(f"{url}: not CSV at line {reader.line_num}: {e}") from None
    if best is None:
        raise FeedError(f"{url}: the CSV answer has a header but no data line")
    line, row, t = best
    value = finite_number(row[cols[cfg.column]].strip(), f"{url} column {cfg.column!r} line {line}")
    return value * cfg.scale, t


class HttpCsvValue:
    """One number (times ``scale``) from a column of an HTTP CSV answer."""

    name = "http_csv"

    def __init__(self, cfg: CsvValue, client: httpx.AsyncClient, clock: Any) -> None:
        self.cfg, self.client, self.clock = cfg, client, clock

    async def latest(self) -> tuple[float, float]:
        r = await get_ok(self.client, self.cfg.url, env_headers(self.cfg.headers_env))
        value, t = csv_value(r.text, self.cfg, self.cfg.url)
        return value, self.clock() if t is None else t
