"""Grid-level studies for planners: flexible-load hosting capacity (``headroom``), frequency
events with miner dynamics (``frequency``). Heavy modules are imported by their callers."""
