"""Parsers, staging and quarantine: landing files in, typed Parquet with lineage out."""
