"""Writing the CIN census: one XML return per LA per year, from the run's care histories.

A child is in an LA's census when one of their episodes of need in that LA is open at
some time between 1 April and 31 March. The return is as on 31 March: later closures,
plan ends and reviews are not yet known. Element names and sex codes follow the spec
for the year (GenderCurrent 1/2/0/9 to 2023/24, Sex M/F/U from 2024/25), so a yearly
schema change in ingest/specs/cin_census.yml is followed without code changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear
from ingest.landing import la_return_xml_path
from ingest.spec import load_spec
from synth import formats
from synth.context import WriteContext
from synth.plants import Plant
from synth.records import empty_truth
from synth.rng import stream
from synth.social_care import (
    NEVER,
    histories,
    identifiers,
    la_child_ids,
    sex_codes,
    truth_table,
    year_bounds,
)
from synth.xml_text import concat, element, nest, wrap, write_xml

FEED = "cin_census"
ISO = "%Y-%m-%d"


def _date(days: np.ndarray, upto: np.int64) -> pa.Array:
    """ISO dates; blank where unknown (< 0) or after the census date."""
    days = np.asarray(days, np.int64)
    return formats.dates(days, ISO, (days < 0) | (days > upto))


def _bool(values: np.ndarray, year: AcademicYear) -> pa.Array:
    """true/false to 2023/24; the 2024/25+ schemas use 1/0."""
    true, false = ("1", "0") if year.start >= 2024 else ("true", "false")
    return formats.booleans(np.asarray(values, bool), true=true, false=false)


def landing_files(landing: Path, year: AcademicYear, las: list[int]) -> list[Path]:
    """Every file write_year writes for a year: one XML return per LA."""
    return [la_return_xml_path(landing, FEED, year, la) for la in las]


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write every LA's CIN census for one year; returns (truth rows, planted cells)."""
    pop, hist = ctx.pop, histories(ctx)
    rng = stream(pop.seed, FEED, year.start)
    spec = load_spec(FEED).for_year(year)
    sex_field = spec.tables["child"].field("sex")
    a, b = year_bounds(year)
    cin = hist.cin
    keep = np.flatnonzero((cin.referral <= b) & (cin.closure >= a))
    order = np.lexsort((cin.referral[keep], cin.subject[keep], cin.la_idx[keep]))
    ep = keep[order]
    ep_la, ep_subject = cin.la_idx[ep].astype(np.int64), cin.subject[ep]
    child_key = ep_la * (len(hist.subjects.dob) + 1) + ep_subject
    first = np.r_[True, child_key[1:] != child_key[:-1]] if ep.size else np.zeros(0, bool)
    owner = np.cumsum(first) - 1
    c_subject, c_la = ep_subject[first], ep_la[first]
    n = c_subject.size
    la_codes = np.array([la.code for la in pop.las], np.int64)
    subj = hist.subjects
    ids = identifiers(pop, hist, c_subject, year, rng, ("UN1", "UN2", "UN3", "UN4", "UN5"))
    dob = subj.dob[c_subject]
    unborn = dob > b
    sex = np.where(unborn, "U", subj.sex[c_subject])
    nfa_only = np.zeros(n, bool)
    if n:
        nfa_only = np.logical_and.reduceat(cin.nfa[ep], np.flatnonzero(first))
    un7 = nfa_only & (ids["unknown"] != "") & (rng.random(n) < 0.3)
    ids["unknown"] = np.where(un7, "UN7", ids["unknown"])

    child_id = formats.codes(la_child_ids(c_subject, la_codes[c_la], pop.seed))
    identifiers_xml = wrap(
        "ChildIdentifiers",
        concat(
            element("LAchildID", child_id),
            element("UPN", formats.codes(ids["upn"])),
            element("FormerUPN", formats.codes(np.where(rng.random(n) < 0.6, ids["former"], ""))),
            element("UPNunknown", formats.codes(ids["unknown"])),
            element("PersonBirthDate", _date(np.where(unborn, -1, dob), b)),
            element("ExpectedPersonBirthDate", _date(np.where(unborn, dob, -1), NEVER)),
            element(sex_field.source, formats.codes(sex_codes(sex_field.harmonise, sex))),
        ),
    )
    disability = hist.disabilities[c_subject]
    characteristics = wrap(
        "ChildCharacteristics",
        concat(
            element("Ethnicity", formats.codes(subj.ethnicity[c_subject])),
            wrap("Disabilities", element("Disability", formats.codes(disability))),
        ),
    )
    details = _details(cin, ep, b, year)
    children = concat(
        pa.array(["<Child>"] * n, pa.string()),
        identifiers_xml,
        characteristics,
        nest(details, owner, n),
        pa.array(["</Child>"] * n, pa.string()),
    )
    truth_parts = []
    bounds = np.searchsorted(c_la, np.arange(len(pop.las) + 1))
    for i, la in enumerate(pop.las):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        path = la_return_xml_path(ctx.landing, FEED, year, la.code)
        rows = write_xml(path, _prolog(year, la.code), children.slice(lo, hi - lo), _EPILOG)
        on_file(ctx.relative(path), rows)
        truth_parts.append(
            truth_table(
                ctx.relative(path),
                np.arange(1, hi - lo + 1),
                subj.person_id[c_subject[lo:hi]],
                ids["label"][lo:hi],
            )
        )
    truth = pa.concat_tables(truth_parts) if truth_parts else empty_truth()
    return truth, []


def _details(cin, ep: np.ndarray, b: np.int64, year: AcademicYear) -> pa.Array:
    """One CINdetails element per episode, as known on 31 March (the census date)."""
    closed = cin.closure[ep] <= b
    assessed = (cin.assessment[ep] >= 0) & (cin.assessment[ep] <= b)
    authorised = assessed & (cin.authorised[ep] <= b)
    factors = cin.factors[ep]
    factor_xml = concat(
        *(element("AssessmentFactors", formats.codes(factors[:, j])) for j in range(3))
    )
    assessment = wrap(
        "Assessments",
        concat(
            element("AssessmentActualStartDate", _date(cin.assessment[ep], b)),
            element("AssessmentAuthorisationDate", _date(cin.authorised[ep], b)),
            wrap("FactorsIdentifiedAtAssessment", factor_xml, authorised),
        ),
        assessed,
    )
    plan = wrap(
        "CINPlanDates",
        concat(
            element("CINPlanStartDate", _date(cin.plan_start[ep], b)),
            element("CINPlanEndDate", _date(cin.plan_end[ep], b)),
        ),
        (cin.plan_start[ep] >= 0) & (cin.plan_start[ep] <= b),
    )
    s47_known = (cin.s47[ep] >= 0) & (cin.s47[ep] <= b)
    icpc = cin.icpc[ep]
    section47 = wrap(
        "Section47",
        concat(
            element("S47ActualStartDate", _date(cin.s47[ep], b)),
            element("InitialCPCtarget", _date(np.where(s47_known, cin.s47[ep] + 15, -1), NEVER)),
            element("DateOfInitialCPC", _date(icpc, b)),
            element("ICPCnotRequired", _bool(icpc < 0, year)),
        ),
        s47_known,
    )
    cpp_known = (cin.cpp_start[ep] >= 0) & (cin.cpp_start[ep] <= b)
    reviews = _cpp_reviews(cin, ep, b)
    cpp = wrap(
        "ChildProtectionPlans",
        concat(
            element("CPPstartDate", _date(cin.cpp_start[ep], b)),
            element("CPPendDate", _date(cin.cpp_end[ep], b)),
            element("InitialCategoryOfAbuse", formats.codes(cin.cpp_category[ep])),
            element("LatestCategoryOfAbuse", formats.codes(cin.cpp_category[ep])),
            element("NumberOfPreviousCPP", formats.integers(cin.cpp_previous[ep])),
            reviews,
        ),
        cpp_known,
    )
    need = np.where(cin.nfa[ep], "", cin.need[ep])
    return wrap(
        "CINdetails",
        concat(
            element("CINreferralDate", _date(cin.referral[ep], b)),
            element("ReferralSource", formats.codes(cin.source[ep])),
            element("PrimaryNeedCode", formats.codes(need)),
            element("CINclosureDate", _date(np.where(closed, cin.closure[ep], -1), b)),
            element("ReasonForClosure", formats.codes(np.where(closed, cin.reason[ep], ""))),
            element("DateOfInitialCPC", _date(icpc, b)),
            assessment,
            plan,
            section47,
            element("ReferralNFA", _bool(cin.nfa[ep], year)),
            cpp,
        ),
    )


def _cpp_reviews(cin, ep: np.ndarray, b: np.int64) -> pa.Array:
    """Reviews/CPPreviewDate: three months after the conference, then every six months."""
    start = cin.cpp_start[ep]
    end = np.minimum(cin.cpp_end[ep], b)
    count = np.where(start >= 0, np.clip((end - start - 90) // 182 + 1, 0, 6), 0)
    owner = np.repeat(np.arange(ep.size), count)
    k = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    dates = start[owner] + 90 + 182 * k
    inner = nest(element("CPPreviewDate", _date(dates, b)), owner, ep.size)
    return wrap("Reviews", inner, count > 0)


def _prolog(year: AcademicYear, la_code: int) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<Message>\n<Header><CollectionDetails>'
        f"<Collection>CIN</Collection><Year>{year.start + 1}</Year>"
        f"<ReferenceDate>{year.start + 1}-03-31</ReferenceDate></CollectionDetails>"
        f"<Source><SourceLevel>L</SourceLevel><LEA>{la_code:03d}</LEA>"
        "<SoftwareCode>npd-synth</SoftwareCode><Release>1</Release><SerialNo>001</SerialNo>"
        f"<DateTime>{year.start + 1}-05-20T09:00:00</DateTime></Source></Header>\n<Children>\n"
    )


_EPILOG = "</Children>\n</Message>\n"
