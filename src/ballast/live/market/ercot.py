"""ERCOT's real-time settlement point price (report NP6-905-CD) through ERCOT's Public API.

What the API asks and answers, as ``gridstatus`` (the ISO analysts' library,
``gridstatus/ercot_api/ercot_api.py``: ``get_token``, ``headers``, ``hit_ercot_api``) calls it:

- **Sign-in**: an OAuth2 resource-owner-password (ROPC) grant posted as a form to ERCOT's Azure
  B2C token URL (``grant_type=password``, ``username``, ``password``, ``response_type=id_token``,
  ``scope="openid <client id> offline_access"``, ``client_id``); the answer's ``id_token`` is
  the bearer token, valid one hour (gridstatus ``TOKEN_EXPIRATION_SECONDS = 3600``; the recorded
  token in its cassettes has ``exp - iat = 3600``).
- **Every call**: ``Authorization: Bearer <id_token>`` and ``Ocp-Apim-Subscription-Key``.
- **Answer** (``GET .../np6-905-cd/spp_node_zone_hub``): ``_meta`` (``totalRecords``,
  ``pageSize``, ``totalPages``, ``currentPage``, ``query``), ``report``, ``fields`` (column
  descriptions, ``name`` first) and ``data``: rows as lists in field order, one page of
  ``size`` rows; pages are numbered from 1 (``page``), more pages while ``currentPage <
  totalPages``.
- **Columns**, checked against a real answer: the executed output of ``hit_ercot_api`` on
  this endpoint in gridstatus/gridstatus ``docs/Examples/ercot_api/ERCOT API Examples.ipynb``
  (columns = the answer's ``fields[].name``, e.g. ``2024-01-18, 13, 4, ZIER_SLR_ALL, RN,
  11.08, False``), and ERCOT's OpenAPI description as gridstatus ships it
  (``gridstatus/ercot_api/pubapi-apim-api.json``: the query parameters are the field names):
  ``deliveryDate`` (yyyy-MM-dd, Central Prevailing Time), ``deliveryHour`` (hour ending
  1-24), ``deliveryInterval`` (1-4), ``settlementPoint`` (the API's name; the report's CSV
  files call it ``SettlementPointName``), ``settlementPointType``, ``settlementPointPrice``
  and ``DSTFlag`` (a JSON boolean: the repeated hour of the fall change).

Hand-written: ``gridstatus`` pins pandas<3 and cannot be installed beside Ballast's dependencies,
and it is synchronous (``requests``); this client is async (``httpx``) and reads one point.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ballast.live.market.config import ErcotPriceFeed
from ballast.live.market.sources import FeedError, env_headers, finite_number

ERCOT_TZ = ZoneInfo("America/Chicago")  # ERCOT's Central Prevailing Time
ERCOT_INTERVAL_S = 900.0  # NP6-905-CD: one settlement point price per 15-min interval
# ERCOT's public client id for the ROPC sign-in (ERCOT's API registration guide; gridstatus)
ERCOT_CLIENT_ID = "fec253ea-0d06-4272-a5e6-b478baeecd70"
ERCOT_ID_TOKEN_TTL_S = 3600.0  # id_token lifetime (gridstatus TOKEN_EXPIRATION_SECONDS)
PAGE_SIZE = 1000  # rows per page asked for; two days of one point are at most 200
MAX_PAGES = 20  # more pages than this for two days of one point is not a real answer
# The API answer's column names (fields[].name) this parser needs, as in a real NP6-905-CD
# answer: gridstatus/gridstatus docs/Examples/ercot_api/ERCOT API Examples.ipynb (executed
# hit_ercot_api("/np6-905-cd/spp_node_zone_hub")); DSTFlag is read when present.
NP6_905_COLUMNS = (
    "deliveryDate",
    "deliveryHour",
    "deliveryInterval",
    "settlementPoint",
    "settlementPointPrice",
)


def secret(var: str, file: str | None, base_dir: str, what: str) -> str:
    """A credential from ``file`` (relative to ``base_dir``; one trailing newline ignored) when
    given, else from environment variable ``var``; missing or empty is a ``FeedError``."""
    if file is None:
        value = os.environ.get(var)
        if not value:
            raise FeedError(f"environment variable {var} ({what}) is unset")
        return value
    path = Path(file) if Path(file).is_absolute() else Path(base_dir) / file
    try:
        value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as e:
        raise FeedError(f"{what} file {path}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    if not value or value != value.strip() or "\n" in value:
        raise FeedError(f"{what} file {path}: must hold one value (no spaces around it, one line)")
    return value


def user_name(cfg: ErcotPriceFeed) -> str:
    """The ERCOT API user name: ``username`` from the site config, else ``username_env``."""
    user = cfg.username or os.environ.get(cfg.username_env)
    if not user:
        raise FeedError(
            f"ERCOT API user name: market.price_feed.username is not set in the site config "
            f"and environment variable {cfg.username_env} (username_env) is unset"
        )
    return user


def check_credentials(cfg: ErcotPriceFeed, base_dir: str = ".") -> None:
    """Read every ERCOT credential once (``ballast serve`` before it starts): the user name and
    password (unless ``token_env``) and the subscription key; a missing one is a
    ``FeedError`` naming the field and the variable or file."""
    if cfg.token_env is None:
        user_name(cfg)
        secret(cfg.password_env, cfg.password_file, base_dir, "ERCOT API password")
    secret(cfg.subscription_key_env, cfg.subscription_key_file, base_dir, "ERCOT subscription key")


class ErcotToken:
    """The bearer ``id_token`` of ERCOT's sign-in: obtained when first needed, renewed
    ``refresh_margin_s`` before it expires (on the injected ``clock``) and when the API
    answers 401 (``invalidate``)."""

    def __init__(
        self, cfg: ErcotPriceFeed, client: httpx.AsyncClient, clock: Any, base_dir: str = "."
    ) -> None:
        self.cfg, self.client, self.clock, self.base_dir = cfg, client, clock, base_dir
        self.token: str | None = None
        self.expires_s = -float("inf")
        self.sign_ins = 0

    def invalidate(self) -> None:
        self.token = None

    async def bearer(self) -> str:
        if self.cfg.token_env:  # the operator keeps a token fresh themselves
            return env_headers({"Authorization": self.cfg.token_env})["Authorization"]
        if self.token is None or self.clock() >= self.expires_s - self.cfg.token_refresh_margin_s:
            await self.sign_in()
        assert self.token is not None
        return self.token

    async def sign_in(self) -> None:
        user = user_name(self.cfg)
        password = secret(self.cfg.password_env, self.cfg.password_file, self.base_dir, "ERCOT API password")
        asked_s = self.clock()
        form = {
            "grant_type": "password",
            "username": user,
            "password": password,
            "response_type": "id_token",
            "scope": f"openid {ERCOT_CLIENT_ID} offline_access",
            "client_id": ERCOT_CLIENT_ID,
        }
        url = self.cfg.token_url
        try:
            r = await self.client.post(url, data=form)
        except httpx.HTTPError as e:
            raise FeedError(f"ERCOT sign-in {url}: {type(e).__name__}: {e}") from None
        try:
            doc = r.json()
        except ValueError:
            doc = {}
        if r.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("id_token"), str):
            why = doc.get("error_description") or doc.get("error") if isinstance(doc, dict) else None
            raise FeedError(
                f"ERCOT sign-in {url} as {user}: HTTP {r.status_code}, no id_token"
                + (f" ({str(why)[:200]})" if why else "")
            )
        ttl_s = ERCOT_ID_TOKEN_TTL_S
        for key in ("id_token_expires_in", "expires_in"):  # B2C sends seconds, as text
            if key in doc:
                ttl_s = min(ttl_s, finite_number(doc[key], f"ERCOT sign-in {key}"))
                break
        self.token, self.expires_s = doc["id_token"], asked_s + ttl_s
        self.sign_ins += 1


def ercot_interval_end_s(delivery_date: str, hour_ending: int, interval: int, dst_repeat: bool) -> float:
    """UTC end [UNIX s] of ERCOT interval ``interval`` (1-4) of hour ending ``hour_ending``
    (1-24) on ``delivery_date`` (Central Prevailing Time; ``dst_repeat`` marks the second,
    repeated hour of the fall change)."""
    if not (1 <= hour_ending <= 24 and 1 <= interval <= 4):
        raise FeedError(f"ERCOT hour {hour_ending} / interval {interval} out of range")
    start = datetime.combine(date.fromisoformat(delivery_date), datetime.min.time())
    local = start + timedelta(hours=hour_ending - 1, minutes=15 * (interval - 1))
    begin = local.replace(tzinfo=ERCOT_TZ, fold=1 if dst_repeat else 0)
    return begin.timestamp() + ERCOT_INTERVAL_S


def dst_flag(value: Any) -> bool:
    """ERCOT's DSTFlag: a JSON boolean in the API; ``Y``/``N`` (the report files) and
    ``true``/``false`` text are read too; anything else is a ``FeedError``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in ("y", "true"):
        return True
    if text in ("n", "false"):
        return False
    raise FeedError(f"ERCOT DSTFlag is {value!r}, not true/false")


class ErcotSpp:
    """The latest published real-time SPP [USD/MWh] of one settlement point (NP6-905-CD)."""

    name = "ercot"

    def __init__(
        self, cfg: ErcotPriceFeed, client: httpx.AsyncClient, clock: Any, base_dir: str = "."
    ) -> None:
        self.cfg, self.client, self.clock, self.base_dir = cfg, client, clock, base_dir
        self.token = ErcotToken(cfg, client, clock, base_dir)

    def next_poll_in_s(self, published_s: float | None, now_s: float) -> float:
        """Wait until the next interval's price should be out, else retry every poll_s."""
        if published_s is None:
            return self.cfg.poll_s
        due = published_s + ERCOT_INTERVAL_S + self.cfg.publication_delay_s
        return max(self.cfg.poll_s, due - now_s) if due > now_s else self.cfg.poll_s

    async def _get(self, params: dict[str, str]) -> Any:
        """One page; a 401 (expired or revoked token) signs in again and retries once."""
        url = self.cfg.url
        for attempt in (1, 2):
            key = secret(
                self.cfg.subscription_key_env,
                self.cfg.subscription_key_file,
                self.base_dir,
                "ERCOT subscription key",
            )
            headers = {"Ocp-Apim-Subscription-Key": key}
            headers["Authorization"] = "Bearer " + await self.token.bearer()
            try:
                r = await self.client.get(url, headers=headers, params=params)
            except httpx.HTTPError as e:
                raise FeedError(f"{url}: {type(e).__name__}: {e}") from None
            if r.status_code == 401 and attempt == 1 and not self.cfg.token_env:
                self.token.invalidate()
                continue
            if r.status_code != 200:
                again = " after a fresh sign-in" if attempt == 2 else ""
                raise FeedError(f"{url}: HTTP {r.status_code}{again}: {r.text[:200]}")
            try:
                return r.json()
            except ValueError:
                raise FeedError(f"{url}: the answer is not JSON") from None
        raise AssertionError("unreachable")

    async def latest(self) -> tuple[float, float]:
        today = datetime.fromtimestamp(self.clock(), UTC).astimezone(ERCOT_TZ).date()
        params = {
            "settlementPoint": self.cfg.settlement_point,
            "deliveryDateFrom": (today - timedelta(days=1)).isoformat(),
            "deliveryDateTo": today.isoformat(),
            "size": str(PAGE_SIZE),
        }
        pages = []
        page, total = 1, 1
        while page <= total:
            doc = await self._get({**params, "page": str(page)})
            try:
                total = int(doc["_meta"]["totalPages"])
            except (KeyError, TypeError, ValueError):
                raise FeedError(f"{self.cfg.url}: the answer has no _meta.totalPages") from None
            if total > MAX_PAGES:
                raise FeedError(f"{self.cfg.url}: {total} pages for one point over two days")
            pages.append(doc)
            page += 1
        return latest_spp(pages, self.cfg.settlement_point)


def latest_spp(pages: Any, settlement_point: str) -> tuple[float, float]:
    """(price [USD/MWh], interval end [UNIX s]) of the latest row for ``settlement_point`` in
    the pages of an NP6-905-CD answer (each ``fields`` + ``data``; one page or a list)."""
    best: tuple[float, float] | None = None
    cols: list[str] | None = None
    for doc in pages if isinstance(pages, list) else [pages]:
        try:
            page_cols = [f["name"] for f in doc["fields"]]
            rows = doc["data"]
        except (KeyError, TypeError):
            raise FeedError("ERCOT answer has no fields/data arrays") from None
        if cols is not None and page_cols != cols:
            raise FeedError(f"ERCOT pages disagree on the columns: {cols} then {page_cols}")
        cols = page_cols
        missing = [c for c in NP6_905_COLUMNS if c not in cols]
        if missing:
            raise FeedError(f"ERCOT answer lacks column(s) {missing} (it has {cols})")
        ix = {c: cols.index(c) for c in cols}
        for row in rows:
            if not isinstance(row, list) or len(row) != len(cols):
                raise FeedError(f"ERCOT row {row!r} does not match the {len(cols)} fields")
            if row[ix["settlementPoint"]] != settlement_point:
                continue
            try:
                end_s = ercot_interval_end_s(
                    str(row[ix["deliveryDate"]]),
                    int(row[ix["deliveryHour"]]),
                    int(row[ix["deliveryInterval"]]),
                    dst_flag(row[ix["DSTFlag"]]) if "DSTFlag" in ix else False,
                )
            except (TypeError, ValueError) as e:
                raise FeedError(f"ERCOT row {row!r}: bad delivery time ({e})") from None
            price = finite_number(row[ix["settlementPointPrice"]], f"ERCOT settlementPointPrice in {row!r}")
            if best is None or end_s > best[1]:
                best = (price, end_s)
    if best is None:
        raise FeedError(f"ERCOT answer has no row for settlement point {settlement_point}")
    return best
