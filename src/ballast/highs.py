"""A silent HiGHS instance for every model the project solves (dispatch LPs in ``optimize/``,
the conversion MILP in ``plan/``)."""

from __future__ import annotations

import os
import sys

import highspy

_banner_done = [False]  # HiGHS prints its banner once per process


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance. The first one in a process prints HiGHS's banner on file
    descriptor 1 from C++ (no option stops it), which would corrupt ``--json`` output, so that
    one is built with descriptor 1 pointed at the null device; later ones are built plainly."""
    if _banner_done[0]:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_done[0] = True
    h.setOptionValue("output_flag", False)
    return h
