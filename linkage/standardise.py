"""The identity columns probabilistic linkage compares, standardised the same way everywhere.

Every feed's records, the identity store's rows, the training pairs and the benchmark go
through `standard_select`, so a name typed "O'Brien " in one return and "OBRIEN" in another
compare as equal, and the model never sees feed-specific columns. Missing columns are NULL,
which keeps the linker feed-agnostic: a feed that carries only some of the standard columns
(forename, surname, dob, sex, postcode, la_code) still links on the rest.
"""

from __future__ import annotations

import duckdb

from core.duck import columns_of

STANDARD = ("forename", "surname", "dob", "sex", "postcode", "la_code")
# What the model reads: sector and district (precomputed, so no pair runs a regex) are
# postcode levels; sector and birth_year also serve blocking.
MODEL_COLUMNS = (
    "forename",
    "surname",
    "dob",
    "sex",
    "postcode",
    "sector",
    "district",
    "birth_year",
)
# Outward code, then inward code, with or without the space, in any case.
POSTCODE = r"^\s*([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\s*$"
PLACEHOLDER_POSTCODES = ("ZZ99 9ZZ",)  # ILR's "not known"
STANDARD_INPUTS = ("forename", "surname", "dob", "sex", "postcode", "la_code")  # what it reads


def _name(expr: str, first_word: bool) -> str:
    text = f"upper(strip_accents(trim(CAST({expr} AS VARCHAR))))"
    if first_word:  # "Mary Jane" in one feed is forename "Mary", middle "Jane" in another
        text = f"split_part(regexp_replace({text}, '\\s+', ' ', 'g'), ' ', 1)"
    return f"nullif(regexp_replace({text}, '[^A-Z]', '', 'g'), '')"


def standard_select(
    con: duckdb.DuckDBPyConnection, table: str, extra: str = "", digest: bool = False
) -> str:
    """A SELECT of `extra` (expressions over `t`, the table's rows) and the standard columns.

    Adds `sector`, `district` (outward code) and `birth_year`; with `digest`, also
    `identity_digest`, a fingerprint of the standardised values that ties a clerical
    decision to the record it was made on (a corrected file may put another child at the
    same line). Each costly expression runs once per row: the inner query computes them,
    the outer one only assembles.
    """
    have = columns_of(con, table)

    def col(name: str, cast: str) -> str:
        return f"t.{name}" if name in have else f"CAST(NULL AS {cast})"

    placeholders = ", ".join(f"'{p}'" for p in PLACEHOLDER_POSTCODES)
    postcode = (
        "CASE WHEN t._pc.o <> '' AND t._pc.o || ' ' || t._pc.i NOT IN "
        f"({placeholders}) THEN t._pc.o || ' ' || t._pc.i END"
    )
    fingerprint = (
        ", md5(concat_ws('|', coalesce(t._fn, ''), coalesce(t._sn, ''), "
        "coalesce(CAST(t._dob AS VARCHAR), ''), coalesce(t._sex, ''), "
        f"coalesce({postcode}, ''))) AS identity_digest"
        if digest
        else ""
    )
    return f"""
        SELECT {extra + "," if extra else ""}
               t._fn AS forename, t._sn AS surname, t._dob AS dob, t._sex AS sex,
               {postcode} AS postcode,
               CASE WHEN {postcode} IS NOT NULL THEN t._pc.o || ' ' || left(t._pc.i, 1) END AS sector,
               CASE WHEN {postcode} IS NOT NULL THEN t._pc.o END AS district,
               year(t._dob) AS birth_year, t._la AS la_code {fingerprint}
        FROM (
            SELECT t.*,
                   {_name(col("forename", "VARCHAR"), first_word=True)} AS _fn,
                   {_name(col("surname", "VARCHAR"), first_word=False)} AS _sn,
                   TRY_CAST({col("dob", "DATE")} AS DATE) AS _dob,
                   CASE upper(CAST({col("sex", "VARCHAR")} AS VARCHAR))
                        WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' END AS _sex,
                   regexp_extract(upper(CAST({col("postcode", "VARCHAR")} AS VARCHAR)),
                                  '{POSTCODE}', ['o', 'i']) AS _pc,
                   TRY_CAST({col("la_code", "INTEGER")} AS INTEGER) AS _la
            FROM {table} t
        ) t
    """
