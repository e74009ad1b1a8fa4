"""Live market data: power price and hashprice feeds with staleness fallback.

One small interface (``sources.Source``: ``await latest() -> (value, published_at_utc_s)``)
and several sources: ERCOT real-time settlement point prices (``ercot``, with ERCOT's sign-in),
any HTTP JSON endpoint, any HTTP CSV endpoint (``csv_source``), a Modbus register, a hashprice
computed from BTC price, difficulty and fees. ``feeds`` polls them in
their own task and applies the site's stale policy; the runtime calls ``feeds.market_policy``
once per tick. The operator's own value stays (no feed configured), and ``live.market_replay``
stays for demos. ``gridstatus`` is not used: it pins pandas<3, which clashes with Ballast's
dependencies; the ERCOT client is small, async and hand-written after gridstatus's calls.
"""
