"""Who may call the site API: bearer tokens, a limit on failed attempts, stream tickets.

- ``Authenticator`` maps a bearer token (``api.tokens`` of the site config) to a ``Principal``
  (name, role), compared in constant time.
- ``FailureLimiter``: after ``max_failures`` failed authentications from one client (IP) within
  ``window_s``, every authenticated request from it gets 429 with ``Retry-After`` until the
  oldest failure in the window ages out. A blocked client's token is not even checked (it would
  tell a brute-force search when it hit), and a success does not clear the count (one valid
  viewer token must not reset a search for the operator's).
- ``StreamTickets``: ``POST /api/v1/stream-ticket`` (bearer header) issues a random ticket,
  valid for ``ttl_s`` and for one use, bound to the principal; ``GET /api/v1/stream?ticket=``
  redeems it. Browsers' EventSource cannot send headers, and a ticket keeps the token itself
  out of URLs (and so out of logs and browser history).

Every age and timeout here runs on an injected monotonic clock (wall-clock steps cannot open or
extend a window).
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Literal["viewer", "operator"]


class FailureLimiter:
    """Failed authentications per client in a sliding window (monotonic clock [s])."""

    def __init__(self, max_failures: int = 20, window_s: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._failures.get(client)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[client]
        return q

    def retry_after_s(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        now = self.clock()
        q = self._recent(client, now)
        if len(q) < self.max_failures:
            return None
        return q[-self.max_failures] + self.window_s - now

    def failed(self, client: str) -> None:
        now = self.clock()
        if client not in self._failures and len(self._failures) >= self.max_clients:
            for c in list(self._failures):  # forget clients whose failures have all aged out
                self._recent(c, now)
            if len(self._failures) >= self.max_clients:  # still full: drop the oldest entry
                del self._failures[next(iter(self._failures))]
        self._failures.setdefault(client, deque()).append(now)


class StreamTickets:
    """Short-lived, single-use stream tickets bound to a principal (monotonic clock [s])."""

    def __init__(self, ttl_s: float = 30.0, *, clock: Callable[[], float] = time.monotonic,
                 max_per_principal: int = 16) -> None:
        self.ttl_s, self.clock, self.max_per_principal = ttl_s, clock, max_per_principal
        self._tickets: dict[str, tuple[Principal, float]] = {}

    def issue(self, principal: Principal) -> str:
        now = self.clock()
        self._tickets = {t: v for t, v in self._tickets.items() if v[1] > now}
        mine = [t for t, (p, _) in self._tickets.items() if p == principal]
        for t in mine[:max(0, len(mine) - self.max_per_principal + 1)]:
            del self._tickets[t]  # oldest first (dicts keep insertion order)
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = (principal, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The ticket's principal, once; None if unknown, used or expired."""
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]


class Authenticator:
    """Bearer tokens -> principals, with the failure limiter and the stream tickets."""

    def __init__(self, tokens: dict[str, Principal], failures: FailureLimiter,
                 tickets: StreamTickets) -> None:
        self._tokens = [(secret.encode(), p) for secret, p in tokens.items()]
        self.failures, self.tickets = failures, tickets

    def lookup(self, token: str | None) -> Principal | None:
        if not token:
            return None
        given = token.encode()
        found = None
        for secret, p in self._tokens:  # no early exit: the time does not tell which matched
            if hmac.compare_digest(secret, given):
                found = p
        return found

    def _check_blocked(self, client: str) -> None:
        wait_s = self.failures.retry_after_s(client)
        if wait_s is not None:
            raise HTTPException(429, f"too many failed authentications from {client}; "
                                f"retry in {math.ceil(wait_s)} s",
                                headers={"Retry-After": str(max(1, math.ceil(wait_s)))})

    def _refuse(self, client: str, what: str) -> HTTPException:
        self.failures.failed(client)
        return HTTPException(401, what, headers=UNAUTHORIZED)

    def authenticate(self, client: str, token: str | None) -> Principal:
        """The principal of a bearer token; 429 while ``client`` is blocked, else 401."""
        self._check_blocked(client)
        p = self.lookup(token)
        if p is None:
            raise self._refuse(client, "missing or unknown bearer token")
        return p

    def redeem(self, client: str, ticket: str) -> Principal:
        """The principal of a stream ticket (used up); 429 while blocked, else 401."""
        self._check_blocked(client)
        p = self.tickets.redeem(ticket)
        if p is None:
            raise self._refuse(client, "unknown, used or expired stream ticket; "
                               "POST /api/v1/stream-ticket for a new one")
        return p
