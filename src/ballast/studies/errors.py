"""The one error type of the studies: bad study input, with one line naming what is wrong."""

from __future__ import annotations


class StudyError(ValueError):
    """Bad study input (unknown BA, years outside the data, rate out of range, bad YAML field)."""
