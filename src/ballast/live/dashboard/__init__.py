"""The live web dashboard: one page served by the site API (``/dashboard/``).

``mount_dashboard(app, runtime, site)`` adds the page, its static files (plotly.js from the
installed plotly package, no CDN), the shared style table and a small read-only ``meta``
endpoint; everything live comes from the site API itself (``/api/v1/stream`` and friends).
"""

from ballast.live.dashboard.router import dashboard_meta, mount_dashboard

__all__ = ["dashboard_meta", "mount_dashboard"]
