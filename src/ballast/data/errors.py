"""Errors raised for bad input data: each names the file, the row or column, and the problem."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. The message names the source, the location and what is wrong."""

    def __init__(self, source: str, problem: str, *, row: int | None = None,
                 column: str | None = None) -> None:
        where = []
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        loc = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{source}{loc}: {problem}")
        self.source = source
        self.row = row
        self.column = column
        self.problem = problem
