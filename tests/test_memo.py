"""ballast.memo.Memo, the memo of the 4CP years and of a batch worker's inputs: an answer is
reused while fresh, least recently used entries go first, errors and oversized answers are not
kept, and clear() forgets everything."""

from __future__ import annotations

import pytest

from ballast.memo import Memo


def _counting() -> tuple[list[str], object]:
    built: list[str] = []

    def build(key: str):
        return lambda: built.append(key) or f"answer {key}"

    return built, build


def test_one_entry_is_swapped_whole_and_cleared():
    memo: Memo[str] = Memo(max_entries=1)
    built, build = _counting()
    for key in ("a", "a", "b", "a", "a"):
        assert memo.get(key, build(key)) == f"answer {key}"
    assert built == ["a", "b", "a"] and (memo.hits, memo.misses) == (2, 3) and len(memo) == 1
    memo.clear()
    assert len(memo) == 0 and (memo.hits, memo.misses) == (0, 0)
    memo.get("a", build("a"))
    assert built == ["a", "b", "a", "a"]


def test_a_stale_answer_is_built_again():
    stale: set[str] = set()
    memo: Memo[str] = Memo(max_entries=4, fresh=lambda answer: answer not in stale)
    built, build = _counting()
    memo.get("a", build("a"))
    memo.get("a", build("a"))
    stale.add("answer a")
    memo.get("a", build("a"))
    assert built == ["a", "a"] and (memo.hits, memo.misses) == (1, 2)


def test_errors_and_answers_over_the_byte_bound_are_not_kept():
    memo: Memo[str] = Memo(max_entries=4, max_bytes=8, nbytes=len)

    def failing() -> str:
        raise RuntimeError("no answer")

    with pytest.raises(RuntimeError, match="no answer"):
        memo.get("x", failing)
    assert len(memo) == 0
    assert memo.get("long", lambda: "a long answer") == "a long answer"  # 13 bytes > 8
    assert len(memo) == 0
    memo.get("s1", lambda: "12345")
    memo.get("s2", lambda: "6789")  # 9 bytes in all: the older goes
    assert len(memo) == 1 and memo.get("s2", failing) == "6789"
