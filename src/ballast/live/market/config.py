"""Site-config grammar of the live market feeds (``market.price_feed``, ``market.hashprice_feed``
and the staleness fallback); imported by ``live.site_config`` so the site reference documents it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ballast.documents import StrictModel

# ERCOT's public API for report NP6-905-CD (Settlement Point Prices at Resource Nodes, Hubs and
# Load Zones, one price per settlement point every 15 minutes)
ERCOT_SPP_URL = "https://api.ercot.com/api/public-reports/np6-905-cd/spp_node_zone_hub"
# ERCOT's Azure B2C sign-in for the Public API (resource-owner password grant; as gridstatus
# gridstatus/ercot_api/ercot_api.py TOKEN_URL)
ERCOT_TOKEN_URL = (
    "https://ercotb2c.b2clogin.com/ercotb2c.onmicrosoft.com/B2C_1_PUBAPI-ROPC-FLOW/oauth2/v2.0/token"
)


class FeedTiming(StrictModel):
    """Polling and staleness common to every feed."""

    poll_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="Poll period [s]; a feed with a "
        "publication cadence (ERCOT) polls again right after the next "
        "expected publication and every poll_s until it arrives. Default 60.",
    )
    timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Timeout of one poll [s]; a poll "
        "runs in its own task and never blocks the tick. Default 5.",
    )
    max_age_s: float = Field(
        1800.0,
        gt=0,
        le=7 * 86_400,
        description="A value published longer "
        "ago than this is stale [s] (age = now - the source's own "
        "timestamp, else the time it was received). Default 1800.",
    )


class JsonValue(StrictModel):
    """One number in an HTTP JSON document."""

    url: str = Field(pattern=r"^https?://", description="HTTP(S) URL answering JSON.")
    path: str = Field(
        min_length=1, description="Dotted path to the number, list indices as integers (e.g. data.0.price)."
    )
    time_path: str | None = Field(
        None,
        description="Dotted path to the value's timestamp "
        "(ISO-8601 with offset, or UNIX seconds). Default none: the "
        "time it was received.",
    )
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers whose "
        "values come from environment variables (header -> "
        "variable), e.g. an API key. Default none.",
    )
    scale: float = Field(1.0, description="Factor applied to the number [-]. Default 1.")


class ErcotPriceFeed(FeedTiming):
    """ERCOT real-time settlement point price (report NP6-905-CD through ERCOT's Public API). Needs
    a free ERCOT API account (apiexplorer.ercot.com): its user name and password (Ballast signs
    in and renews the 1-hour ID token) and its subscription key."""

    source: Literal["ercot"] = Field(description="ercot")
    settlement_point: str = Field(
        min_length=1,
        max_length=64,
        description="The site's settlement point (e.g. HB_WEST, LZ_WEST or a resource node).",
    )
    url: str = Field(
        ERCOT_SPP_URL,
        pattern=r"^https?://",
        description="Endpoint. Default ERCOT's NP6-905-CD spp_node_zone_hub.",
    )
    subscription_key_env: str = Field(
        "ERCOT_SUBSCRIPTION_KEY",
        pattern=r"^[A-Za-z_]\w*$",
        description="Environment variable holding the "
        "Ocp-Apim-Subscription-Key. Default "
        "ERCOT_SUBSCRIPTION_KEY.",
    )
    username: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        pattern=r"^\S+$",
        description="The ERCOT API account's user name (e-mail) for the sign-in; not a secret, "
        "so it may sit in the site config (the password and subscription key never do). "
        "Default none: username_env.",
    )
    username_env: str = Field(
        "ERCOT_API_USERNAME",
        pattern=r"^[A-Za-z_]\w*$",
        description="Or: environment variable holding the user name. Default ERCOT_API_USERNAME.",
    )
    password_env: str = Field(
        "ERCOT_API_PASSWORD",
        pattern=r"^[A-Za-z_]\w*$",
        description="Environment variable holding its password. Default ERCOT_API_PASSWORD.",
    )
    password_file: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="Or: a file holding the password (relative to the site config; read at each "
        "sign-in; one trailing newline is ignored). Default none: password_env.",
    )
    subscription_key_file: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="Or: a file holding the subscription key (relative to the site config; "
        "read at each poll). Default none: subscription_key_env.",
    )
    token_url: str = Field(
        ERCOT_TOKEN_URL,
        pattern=r"^https?://",
        description="Sign-in (OAuth2 password grant) URL. Default ERCOT's Azure B2C token URL.",
    )
    token_refresh_margin_s: float = Field(
        300.0,
        ge=0,
        lt=3600,
        description="Sign in again this long before the 1-hour ID token expires [s]; a 401 "
        "answer also signs in again (one retry). Default 300.",
    )
    token_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_]\w*$",
        description="Instead of signing in: environment variable holding a bearer ID token, "
        "read at each poll (keeping it fresh is then the operator's). Default none: Ballast "
        "signs in with username_env/password_env.",
    )
    publication_delay_s: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="Expected time from an "
        "interval's end to its price being published [s]. "
        "Default 120 (assumption).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        """The password, subscription key and token never sit in the site config."""
        if isinstance(data, dict):
            for key, instead in SECRET_KEYS.items():
                if key in data:
                    raise ValueError(f"{key}: secrets are never written in the site config; give {instead}")
        return data


# secret fields an operator might write in market.price_feed -> where they go instead
SECRET_KEYS = {
    "password": "password_env (an environment variable) or password_file",
    "subscription_key": "subscription_key_env (an environment variable) or subscription_key_file",
    "token": "token_env (an environment variable)",
}


class HttpPriceFeed(FeedTiming, JsonValue):
    """Power price [USD/MWh] from any HTTP JSON endpoint (a REP or QSE feed)."""

    source: Literal["http_json"] = Field(description="http_json")


class HttpSystemLoad(FeedTiming, JsonValue):
    """ERCOT system load [MW] from any HTTP JSON endpoint (a QSE's or a data vendor's feed), for
    the 4CP alert of ``programs.coincident_peak``: each reading extends the hourly load history
    the alert reads (``live.grid_programs``)."""

    source: Literal["http_json"] = Field(description="http_json")


class CsvValue(StrictModel):
    """One number in an HTTP CSV document: a column of one row (the first line is the header)."""

    url: str = Field(pattern=r"^https?://", description="HTTP(S) URL answering CSV (header line first).")
    column: str = Field(min_length=1, description="Header name of the column holding the number.")
    row: Literal["last", "latest"] = Field(
        "last",
        description="Which row: last (the last data line) or latest (the row with the "
        "latest time_column). Default last.",
    )
    time_column: str | None = Field(
        None,
        min_length=1,
        description="Header name of the row's timestamp (ISO-8601 with offset, or UNIX "
        "seconds); needed by row latest. Default none: the time the answer was received.",
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator. Default ,.")
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers whose values come from environment variables (header -> "
        "variable), e.g. an API key. Default none.",
    )
    scale: float = Field(1.0, description="Factor applied to the number [-]. Default 1.")

    @model_validator(mode="after")
    def _latest_needs_time(self) -> CsvValue:
        if self.row == "latest" and self.time_column is None:
            raise ValueError("row latest needs time_column (the column that says which row is latest)")
        return self


class HttpCsvPriceFeed(FeedTiming, CsvValue):
    """Power price [USD/MWh] from any HTTP CSV endpoint (a REP or QSE feed)."""

    source: Literal["http_csv"] = Field(description="http_csv")


class ModbusValue(FeedTiming):
    """One number in Modbus TCP holding registers."""

    host: str = Field(description="Modbus TCP host.")
    port: int = Field(502, ge=1, le=65535, description="Port. Default 502.")
    device_id: int = Field(1, ge=0, le=247, description="Unit id. Default 1.")
    address: int = Field(ge=0, le=65535, description="First holding register (0-based).")
    data_type: Literal["int16", "uint16", "int32", "uint32", "float32", "float64"] = Field(
        "float32", description="Register type (big-endian words). Default float32."
    )
    scale: float = Field(1.0, description="Factor applied to the raw value [-]. Default 1.")


class ModbusPriceFeed(ModbusValue):
    """Power price [USD/MWh] from a Modbus holding register (e.g. a QSE gateway)."""

    source: Literal["modbus"] = Field(description="modbus")


class ComputedHashprice(FeedTiming):
    """Hashprice from BTC price, difficulty and fees (``models.bitcoin``), each from HTTP JSON.
    The value is stale as soon as any input is; its age is the oldest input's."""

    source: Literal["computed"] = Field(description="computed")
    btc_price_usd: JsonValue = Field(description="BTC price [USD].")
    difficulty: JsonValue = Field(description="Network difficulty [-].")
    fees_btc_per_block: JsonValue | None = Field(
        None, description="Mean fees per block [BTC]. Default none: 0."
    )


class HttpHashprice(FeedTiming, JsonValue):
    """Hashprice [USD/PH/day] from a pool's or an index's HTTP JSON API."""

    source: Literal["http_json"] = Field(description="http_json")


class HttpCsvHashprice(FeedTiming, CsvValue):
    """Hashprice [USD/PH/day] from an HTTP CSV endpoint."""

    source: Literal["http_csv"] = Field(description="http_csv")


class StaleConfig(StrictModel):
    """What the controller assumes while a feed is stale (no fresh value within max_age_s)."""

    on_stale: Literal["hold", "conservative", "curtail"] = Field(
        "curtail",
        description="hold: keep the last value for at most hold_s, then curtail; "
        "conservative: take conservative_price_usd_per_mwh / conservative_hashprice_usd_per_ph_day; "
        "curtail: economically dispatched miners sleep (hashprice 0 at the conservative price). "
        "Default curtail.",
    )
    hold_s: float = Field(
        900.0,
        ge=0,
        le=86_400,
        description="Longest hold of a stale value [s]. Default 900 (one ERCOT settlement interval).",
    )
    conservative_price_usd_per_mwh: float = Field(
        5000.0,
        gt=0,
        le=100_000,
        description="Price assumed when stale [USD/MWh]. Default 5000 "
        "(ERCOT system-wide offer cap since 2021, 16 TAC 25.505(g)).",
    )
    conservative_hashprice_usd_per_ph_day: float = Field(
        0.0, ge=0, le=10_000, description="Hashprice assumed when stale [USD/PH/day]. Default 0."
    )
