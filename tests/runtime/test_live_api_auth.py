"""Tables of cases with an injected monotonic clock: the 401 limiter, stream tickets, and the
bounded, rate-limited audit of refused requests (ballast.live.auth, ballast.live.audit)."""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException

from ballast.live.audit import MAX_FIELD_CHARS, RefusalAudit, bounded_payload, clip
from ballast.live.auth import Authenticator, FailureLimiter, Principal, StreamTickets

VIEWER = Principal("wall", "viewer")
OPERATOR = Principal("alice", "operator")


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# (failure times [s], check time [s], expected retry-after [s] or None); 3 failures per 10 s
LIMITER_CASES = [
    ([], 0.0, None),
    ([0.0, 1.0], 2.0, None),                      # under the limit
    ([0.0, 1.0, 2.0], 2.0, 8.0),                  # third failure: blocked until 0 + 10
    ([0.0, 1.0, 2.0], 9.5, 0.5),
    ([0.0, 1.0, 2.0], 10.0, None),                # the first has aged out
    ([0.0, 1.0, 2.0, 10.5], 10.5, 0.5),           # 1, 2, 10.5 in the window: until 1 + 10
    ([0.0, 5.0, 20.0], 21.0, None),               # spread out: never three in 10 s
]


@pytest.mark.parametrize(("fails", "at", "retry"), LIMITER_CASES)
def test_failure_limiter(fails, at, retry):
    clock = Clock(0.0)
    lim = FailureLimiter(3, 10.0, clock=clock)
    for t in fails:
        clock.t = t
        lim.failed("10.0.0.1")
    clock.t = at
    got = lim.retry_after_s("10.0.0.1")
    assert got == (None if retry is None else pytest.approx(retry))
    assert lim.retry_after_s("10.0.0.2") is None  # per client


def test_failure_limiter_holds_a_bounded_number_of_clients():
    clock = Clock(0.0)
    lim = FailureLimiter(1, 10.0, clock=clock, max_clients=3)
    for i in range(10):
        lim.failed(f"10.0.0.{i}")
    assert len(lim._failures) == 3
    assert lim.retry_after_s("10.0.0.9") == pytest.approx(10.0)


def test_authenticator_blocks_a_client_after_repeated_failures_even_with_a_good_token():
    clock = Clock(0.0)
    auth = Authenticator({"good-token-123": OPERATOR}, FailureLimiter(2, 60.0, clock=clock),
                         StreamTickets(30.0, clock=clock))
    assert auth.authenticate("a", "good-token-123") == OPERATOR
    for _ in range(2):
        with pytest.raises(HTTPException) as e:
            auth.authenticate("a", "guess-000000")
        assert e.value.status_code == 401 and e.value.headers == {"WWW-Authenticate": "Bearer"}
    with pytest.raises(HTTPException) as e:
        auth.authenticate("a", "good-token-123")  # blocked: not even checked
    assert e.value.status_code == 429 and e.value.headers == {"Retry-After": "60"}
    assert auth.authenticate("b", "good-token-123") == OPERATOR  # another client is not
    clock.t = 60.0
    assert auth.authenticate("a", "good-token-123") == OPERATOR
    assert auth.lookup(None) is None and auth.lookup("") is None


# (ticket issued at [s], redeemed at [s], expected principal or None); life 30 s
TICKET_CASES = [(0.0, 0.0, VIEWER), (0.0, 29.9, VIEWER), (0.0, 30.0, None), (0.0, 300.0, None)]


@pytest.mark.parametrize(("issued", "redeemed", "who"), TICKET_CASES)
def test_stream_ticket_lifetime(issued, redeemed, who):
    clock = Clock(issued)
    tickets = StreamTickets(30.0, clock=clock)
    t = tickets.issue(VIEWER)
    clock.t = redeemed
    assert tickets.redeem(t) == who
    assert tickets.redeem(t) is None  # single use, expired or not


def test_stream_tickets_are_random_bound_and_bounded():
    clock = Clock()
    tickets = StreamTickets(30.0, clock=clock, max_per_principal=4)
    issued = [tickets.issue(VIEWER) for _ in range(10)]
    assert len(set(issued)) == 10 and all(len(t) >= 40 for t in issued)
    assert [tickets.redeem(t) for t in issued[:6]] == [None] * 6  # oldest dropped
    assert tickets.redeem(issued[-1]) == VIEWER
    op = tickets.issue(OPERATOR)
    forged = ("y" if op[0] == "x" else "x") + op[1:]  # differs from op in its first character
    assert tickets.redeem(forged) is None and tickets.redeem(op) == OPERATOR
    clock.t += 31
    tickets.issue(VIEWER)  # purges the expired ones
    assert len(tickets._tickets) == 1


def test_clip_and_bounded_payload():
    assert clip("abc") == "abc" and clip("x" * MAX_FIELD_CHARS) == "x" * MAX_FIELD_CHARS
    assert clip("x" * 60_000) == "x" * 200 + "…[truncated, 60000 chars]"
    small = {"group": "s21", "reduction_mw": 5.0}
    assert bounded_payload(small) == small
    clipped = bounded_payload({"group": "g" * 60_000})
    assert clipped == {"group": "g" * 200 + "…[truncated, 60000 chars]"}
    many = bounded_payload({f"k{i}": "v" * 150 for i in range(40)})
    assert many["truncated"] is True and len(json.dumps(many)) < 2_100


# Refused requests by one principal at these times [s]; 3 rows per 10-s window. Expected rows
# written (in order): "r" a refused row, "sN" a summary of N suppressed.
AUDIT_CASES = [
    ([0, 1, 2], ["r", "r", "r"]),
    ([0, 1, 2, 3, 4], ["r", "r", "r"]),                    # 2 suppressed, window still open
    ([0, 1, 2, 3, 4, 10], ["r", "r", "r", "s2", "r"]),     # window ended: summary, new window
    ([0, 1, 2, 3, 25, 26, 27, 28, 29], ["r", "r", "r", "s1", "r", "r", "r"]),
    ([0, 10, 20, 30], ["r", "r", "r", "r"]),              # never over the limit
]


@pytest.mark.parametrize(("times", "rows"), AUDIT_CASES)
def test_refused_audit_rate_limit(times, rows):
    clock = Clock(0.0)
    written: list[tuple] = []
    audit = RefusalAudit(lambda *row: written.append(row), max_rows=3, window_s=10.0,
                         clock=clock)
    for t in times:
        clock.t = t
        audit.refused("wall", "viewer", "POST /x", {}, "denied: viewer role")
    got = ["r" if w[2] == "POST /x" else f"s{w[3]['suppressed']}" for w in written]
    assert got == rows
    for w in written:
        if w[2] == "refused.suppressed":
            assert w[4] == f"{w[3]['suppressed']} more refused requests suppressed"


def test_refused_audit_flush_writes_summaries_of_ended_windows_per_principal():
    clock = Clock(0.0)
    written: list[tuple] = []
    audit = RefusalAudit(lambda *row: written.append(row), max_rows=1, window_s=10.0,
                         clock=clock)
    for who in ("wall", "wall", "wall", "alice", "alice"):
        audit.refused(who, "viewer", "POST /x", {"g": "g" * 5000}, "denied")
    assert [(w[0], w[2]) for w in written] == [("wall", "POST /x"), ("alice", "POST /x")]
    assert all(len(json.dumps(w[3])) < 300 for w in written)  # the payload was clipped
    clock.t = 5.0
    audit.flush()
    assert len(written) == 2  # windows still open
    clock.t = 10.0
    audit.flush()
    assert sorted((w[0], w[3]["suppressed"]) for w in written[2:]) == [("alice", 1), ("wall", 2)]
    audit.flush(force=True)
    assert len(written) == 4
