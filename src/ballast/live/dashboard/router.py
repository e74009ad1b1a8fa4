"""FastAPI routes of the dashboard: the page, its assets, the style table and site metadata.

Routes (all added by ``mount_dashboard``; the site API's own routes are untouched):

- ``GET /`` and ``GET /dashboard`` redirect to ``/dashboard/``;
- ``GET /dashboard/`` the page (public: it holds no data; the data need a token);
- ``GET /dashboard/static/*`` its CSS and JavaScript (package data);
- ``GET /dashboard/vendor/plotly.min.js`` plotly.js from the installed ``plotly`` package
  (``plotly.offline.get_plotlyjs()``, the very build the backtest report embeds): no CDN;
- ``GET /dashboard/api/style`` the shared colour/label table (``ballast.report.style``);
- ``GET /dashboard/api/meta`` (viewer token, header only) who you are (name, role), the site,
  and each miner group's static facts in merit order: colour, model, unit power, breakeven
  per hashprice;
- ``GET /dashboard/api/recent`` (viewer token) the last ``RECENT_TICKS`` tick documents, slimmed
  to what the charts need (same schema as the stream), so a page opened now starts with the
  last minutes instead of an empty chart. Kept in memory: empty again after a restart.

The page itself reads live data from the site API (``/api/v1/stream``, ``/events``, ...) and
acts through it (``/api/v1/groups/{g}/curtail``, ``PUT /api/v1/policy``, ...), so the API alone
decides who may act: hiding the controls from a viewer is a courtesy, not the protection.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the closure-local
# dependency in ``Annotated[..., Depends(principal)]`` at definition time.
from collections import deque
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from ballast.live.api_models import VIEW
from ballast.live.auth import Principal
from ballast.live.runtime import Runtime
from ballast.live.site_config import SiteConfig
from ballast.report.style import miner_colour, style_table

STATIC_DIR = Path(__file__).parent / "static"
RECENT_TICKS = 900  # 15 min at a 1-s tick, as many as the page's charts show
_SLIM_GROUP_KEYS = ("name", "running", "asleep", "non_compliant", "unreachable", "mode")

# Why the controller did what it did: one sentence per binding rule (control/rules.py order).
RULE_EXPLANATIONS: dict[str, str] = {
    "economics": "Merit order: each group runs while its hashprice revenue beats the power "
                 "price; no safety limit or grid obligation bound the miners this tick.",
    "import_limit": "Interconnect limit: miners held back so campus import stays under the "
                    "import limit (less the margin), whatever the AI load does.",
    "obligation_cap": "Grid obligation: a demand-response or program cap on consumption bound "
                      "the miners below what economics wanted.",
    "obligation_floor": "Grid obligation floor: a minimum consumption (e.g. a reserve "
                        "deployment) held miners on above what economics wanted.",
    "renewable_absorption": "Renewable following: miners run to soak up on-site wind/solar that "
                            "would otherwise be exported past the limit or curtailed.",
    "smoothing": "Smoothing: miners follow a ramp- and range-limited import plan, filling or "
                 "absorbing the AI load's swings so the grid sees a smooth import.",
    "reserve_up": "Up reserve: miners held asleep as headroom, ready to fill the gap if the AI "
                  "load drops at once (a job crash) while import keeps within its ramp limit.",
    "reserve_down": "Down reserve: miners kept running so they can be shed if the AI load jumps "
                    "back (a job restart) while import keeps within its ramp limit.",
    "restore_ramp": "Restore ramp: miners wake in stages so campus import rises no faster "
                    "than the site's restore ramp (MW per minute); shedding is never slowed.",
    "watchdog": "Watchdog: meter data are stale, so every miner is asleep (safe state) until "
                "the meter reads again.",
}

# Content-Security-Policy: the page may load and connect only to its own origin (works offline,
# nothing leaves the site); plotly.js injects <style> elements, hence 'unsafe-inline' for styles.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


@cache
def plotly_js() -> bytes:
    """The plotly.js bundle shipped inside the installed ``plotly`` package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def dashboard_meta(runtime: Runtime, name: str, role: str) -> dict[str, Any]:
    """Static facts the page needs besides the tick stream. Group powers are not here: the
    tick document carries each group's power as the server computed it."""
    g = runtime.base_cfg.groups
    models = {m.name: m.model for m in runtime.scenario.miners}
    per_device = {m.group: m.miners_per_device for m in runtime.site.miners}
    groups = []
    for pos, gi in enumerate(int(i) for i in g.merit):
        gname = g.names[gi]
        groups.append({
            "name": gname, "model": models.get(gname, ""), "merit_position": pos,
            "colour": miner_colour(pos),
            "efficiency_j_per_th": float(g.efficiency_j_per_th[gi]),
            "miners_per_device": float(per_device.get(gname, 1.0)),
            "breakeven_usd_per_mwh_per_usd_per_ph_day": float(g.breakeven_per_hashprice[gi]),
        })
    return {
        "principal": {"name": name, "role": role},
        "site": {"name": runtime.scenario.site.name,
                 "timezone": runtime.scenario.site.timezone,
                 "import_limit_mw": float(runtime.base_cfg.import_limit_mw),
                 "export_limit_mw": float(runtime.base_cfg.export_limit_mw),
                 "ai_full_mw": float(runtime.ai_full_mw), "tick_s": float(runtime.site.tick_s)},
        "groups": groups,
        "rules": RULE_EXPLANATIONS,
        "style": style_table(),
    }


def slim_tick(doc: dict[str, Any]) -> dict[str, Any]:
    """The part of a tick document the charts and the rule history need (stream schema)."""
    return {"tick": doc["tick"], "time": doc["time"], "binding_rule": doc["binding_rule"],
            "safe_mode": doc["safe_mode"], "power_mw": doc["power_mw"],
            "market": doc["market"], "frequency_hz": doc["frequency_hz"],
            "groups": [{k: g[k] for k in _SLIM_GROUP_KEYS} for g in doc["groups"]]}


def mount_dashboard(app: FastAPI, runtime: Runtime, site: SiteConfig,
                    viewer: Callable[..., Awaitable[Principal]]) -> None:
    """Add the dashboard's routes and static files to the site API ``app``. ``viewer`` is the
    site API's own authentication dependency (bearer header only; 401, and 429 after repeated
    failures from one client: ``ballast.live.auth``)."""
    recent: deque[dict[str, Any]] = deque(maxlen=RECENT_TICKS)
    runtime.on_tick.append(lambda doc: recent.append(slim_tick(doc)))
    Viewer = Annotated[Principal, Depends(viewer)]

    router = APIRouter(tags=["dashboard"])

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    @router.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse("/dashboard/static/favicon.svg")

    @router.get("/dashboard", include_in_schema=False)
    async def no_slash() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    @router.get("/dashboard/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache",
                                     "Content-Security-Policy": CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "Referrer-Policy": "no-referrer"})

    @router.get("/dashboard/vendor/plotly.min.js", include_in_schema=False)
    async def plotly() -> Response:
        return Response(plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/dashboard/api/style")
    async def style() -> dict[str, Any]:
        """The colour/label table the backtest report uses (one visual language)."""
        return style_table()

    @router.get("/dashboard/api/meta", responses=VIEW)
    async def meta(who: Viewer) -> dict[str, Any]:
        """Who you are, the site, and each miner group's static facts in merit order."""
        return dashboard_meta(runtime, who.name, who.role)

    @router.get("/dashboard/api/recent", responses=VIEW)
    async def recent_ticks(_: Viewer,
                           limit: Annotated[int, Query(ge=1, le=RECENT_TICKS)] = RECENT_TICKS
                           ) -> list[dict[str, Any]]:
        """The latest ``limit`` ticks, oldest first (slimmed stream documents)."""
        return list(recent)[-limit:]

    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
