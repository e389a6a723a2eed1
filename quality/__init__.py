"""Data quality for statisticians: per-partition metrics in the warehouse and a static dashboard.

metrics.py measures one partition from its staged and linked Parquet (in DuckDB, driven by
the feed registry and specs); store.py keeps the figures in the `quality` schema; the
dashboard modules read them back, suppress small LA counts (governance.disclosure) and
write a static site with Vega-Lite charts that works offline.
"""
