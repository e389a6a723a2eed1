"""No identifier reaches any stored result, Data Docs page, log line or outcome.

Plants distinctive identifier values in failing rows (where GX would by default keep
sample unexpected values), validates, builds Data Docs, then reads every file under
gx_dir and everything logged or printed, looking for them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from staged_frames import KS2_PARAMS, PARAMS, census_frame, ks2_frame

from expectations.privacy import WITHHELD, scrub_exception_info
from expectations.runner import build_data_docs, validate_records

UPN = "Q801200005001"
FORMER_UPN = "R207000016049"
ULN = "9276308686"
SURNAME = "Featherstonehaugh"
FORENAME = "Persephone"
POSTCODE = "ZX9 9QJ"
CANDIDATE = "CAND-771234"
DOB = dt.date(2012, 2, 29)
SECRETS = [
    UPN,
    FORMER_UPN,
    ULN,
    SURNAME,
    FORENAME,
    POSTCODE,
    CANDIDATE,
    DOB.isoformat(),
    "20120229",
]


def _bad_census() -> pd.DataFrame:
    df = census_frame(40)
    rows = df.index[:3]
    df.loc[rows, "upn"] = UPN  # a UPN three times in one school: census 1520 fails
    df.loc[rows, "laestab"] = df.loc[rows[0], "laestab"]
    df.loc[rows, "upn_status"] = "bad_check"
    df.loc[rows, "former_upn"] = FORMER_UPN
    df.loc[rows, "former_upn_status"] = "bad_la"
    df.loc[rows, "uln"] = ULN
    df.loc[rows, ["surname", "preferred_surname", "former_surname"]] = SURNAME
    df.loc[rows, ["forename", "middle_names"]] = FORENAME
    df.loc[rows, "postcode"] = POSTCODE
    df.loc[rows, "dob"] = DOB
    df.loc[rows, "ethnicity"] = SURNAME.upper()[:4]  # an invalid code in a failing row
    df.loc[df.index[3], "dob"] = None  # and a critical failure
    return df


def _bad_ks2() -> pd.DataFrame:
    df = ks2_frame(40)
    rows = df.index[:3]
    df.loc[rows, "upn"] = UPN
    df.loc[rows, "upn_status"] = "bad_check"
    df.loc[rows, "candidate_number"] = CANDIDATE
    df.loc[rows, "laestab"] = df.loc[rows[0], "laestab"]
    df.loc[rows, "surname"] = SURNAME
    df.loc[rows, "forename"] = FORENAME
    df.loc[rows, "dob"] = DOB
    return df


def test_no_identifier_in_results_docs_logs_or_outcomes(
    gx_dir: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    census = validate_records(
        _bad_census(), "school_census", gx_dir=gx_dir, run_name="privacy", params=PARAMS
    )
    ks2 = validate_records(_bad_ks2(), "ks2", gx_dir=gx_dir, run_name="privacy", params=KS2_PARAMS)
    index = build_data_docs(gx_dir)

    # the plants did make expectations on identifier-bearing rows fail
    assert not census.success
    failed = {r.rule for r in [*census.warnings_failed, *ks2.warnings_failed]}
    assert {"census 1520", "one result per UPN", "candidate number unique in school"} <= failed

    files = [p for p in gx_dir.rglob("*") if p.is_file()]
    assert index in files
    assert any(p.suffix == ".html" and "validations" in p.parts for p in files)
    out, err = capfd.readouterr()
    texts = {str(p): p.read_bytes().decode("utf-8", "replace") for p in files}
    texts |= {
        "logs": caplog.text,
        "stdout": out,
        "stderr": err,
        "outcomes": json.dumps([census.to_dict(), ks2.to_dict()])
        + census.describe()
        + ks2.describe(),
    }
    leaks = [(where, s) for where, text in texts.items() for s in SECRETS if s in text]
    assert leaks == []


def test_exception_text_is_withheld_from_stored_results(gx_dir: Path) -> None:
    """GX stores an expectation's exception message and traceback; either may quote a value."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from expectations.gx_context import open_context

    message = f"could not convert {UPN!r} for {SURNAME}"
    evr = ExpectationValidationResult(
        success=False,
        exception_info={
            "raised_exception": True,
            "exception_message": message,
            "exception_traceback": f"Traceback (most recent call last):\nValueError: {message}",
        },
    )
    result = ExpectationSuiteValidationResult(success=False, results=[evr], suite_name="ks2")
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name="ks2"),
        run_id=RunIdentifier(run_name="exception"),
        batch_identifier="manual",
    )
    open_context(gx_dir.resolve()).validation_results_store.set(key, result)
    (stored,) = (gx_dir / "uncommitted" / "validations" / "ks2" / "exception").rglob("*.json")
    text = stored.read_text()
    assert UPN not in text and SURNAME not in text
    assert f"ValueError ({WITHHELD})" in text


def test_scrubbing_keeps_the_exception_name_only() -> None:
    info = {
        "m1": {
            "raised_exception": True,
            "exception_message": f"bad {UPN}",
            "exception_traceback": f"...\nKeyError: '{UPN}'",
        },
        "m2": {"raised_exception": False, "exception_message": None, "exception_traceback": None},
    }
    scrubbed, names = scrub_exception_info(info)
    assert names == ["KeyError"]
    assert UPN not in json.dumps(scrubbed)
    assert scrub_exception_info(scrubbed)[1] == ["KeyError"]  # idempotent


def test_gx_exception_log_lines_are_withheld(caplog: pytest.LogCaptureFixture) -> None:
    import expectations.gx_context  # noqa: F401  (installs the filter)

    caplog.set_level(logging.ERROR)
    logging.getLogger("great_expectations.validator.validation_graph").error(
        "Caught exception %s while trying to resolve", f"bad value {UPN}"
    )
    assert UPN not in caplog.text
    assert WITHHELD in caplog.text
