"""Writing the SSDA903 (children looked after): one return per LA per year, as CSV tables
or, for some LAs, as one EXPSSDA903 XML file holding the same items.

The return is as on 31 March: episodes open at some time between 1 April and 31 March
for periods of care the LA is responsible for, with later end dates not yet known.
Headers, sex codes and placement codes follow the spec for the year, so the 2024/25
move of SEX to M/F/U is read from ingest/specs/ssda903.yml, not coded here. Every
table is built once as Arrow columns keyed by the spec's source names, then written
per LA either as CSVs or as XML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear
from ingest.landing import la_return_table_path, la_return_xml_path
from ingest.spec import FeedSpec, load_spec
from synth import formats
from synth.context import WriteContext
from synth.plants import Plant
from synth.records import empty_truth
from synth.rng import stream
from synth.social_care import (
    NEVER,
    YEAR,
    _pick,
    histories,
    identifiers,
    la_child_ids,
    sex_codes,
    truth_table,
    year_bounds,
)
from synth.xml_text import concat, element, nest, wrap, write_xml

FEED = "ssda903"
DMY = "%d/%m/%Y"
SW_FROM = 2023  # social worker episodes are collected from 2023/24


def xml_form(la_index: int) -> bool:
    """Which LAs send the XML form: every fourth, so both forms run in every demo."""
    return la_index % 4 == 3


def landing_files(landing: Path, year: AcademicYear, las: list[int]) -> list[Path]:
    """Every file write_year writes for a year: per LA, the CSV tables or one XML file."""
    tables = load_spec(FEED).for_year(year).tables
    return [
        path
        for i, la in enumerate(las)
        for path in (
            [la_return_xml_path(landing, FEED, year, la)]
            if xml_form(i)
            else [la_return_table_path(landing, FEED, year, la, t) for t in tables]
        )
    ]


@dataclass
class _Table:
    owner: np.ndarray  # child index (rows sorted by it)
    columns: dict[str, pa.Array]  # source name -> column


def _date(days: np.ndarray, upto: np.int64 = NEVER) -> pa.Array:
    days = np.asarray(days, np.int64)
    return formats.dates(days, DMY, (days < 0) | (days > upto))


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write every LA's SSDA903 return for one year; returns (truth rows, planted cells)."""
    pop, hist = ctx.pop, histories(ctx)
    rng = stream(pop.seed, FEED, year.start)
    spec = load_spec(FEED).for_year(year)
    a, b = year_bounds(year)
    care = hist.care
    keep = np.flatnonzero((care.decom <= b) & (care.dec >= a))
    order = np.lexsort((care.decom[keep], care.subject[keep], care.la_idx[keep]))
    ep = keep[order]
    subj = hist.subjects
    key = care.la_idx[ep].astype(np.int64) * (len(subj.dob) + 1) + care.subject[ep]
    first = np.r_[True, key[1:] != key[:-1]] if ep.size else np.zeros(0, bool)
    owner = np.cumsum(first) - 1
    c_subject, c_la = care.subject[ep][first], care.la_idx[ep][first].astype(np.int64)
    n = c_subject.size
    la_codes = np.array([la.code for la in pop.las], np.int64)
    child = formats.codes(la_child_ids(c_subject, la_codes[c_la], pop.seed))
    dob = subj.dob[c_subject]
    dob_text = _date(dob)
    ids = identifiers(pop, hist, c_subject, year, rng, ("UN1", "UN2", "UN3", "UN4", "UN5"))
    upn_field = np.where(ids["upn"] != "", ids["upn"], ids["unknown"])
    age = (b - dob) / YEAR
    mother = (subj.sex[c_subject] == "F") & (age >= 15) & (rng.random(n) < 0.02)
    sex_field = spec.tables["header"].field("SEX")
    sex = formats.codes(sex_codes(sex_field.harmonise, subj.sex[c_subject]))
    tables: dict[str, _Table] = {
        "header": _Table(
            np.arange(n),
            {
                "CHILD": child,
                "SEX": sex,
                "DOB": dob_text,
                "ETHNIC": formats.codes(subj.ethnicity[c_subject]),
                "UPN": formats.codes(upn_field),
                "MOTHER": formats.codes(np.where(mother, "1", "")),
                "MC_DOB": _date(np.where(mother, b - rng.integers(30, 700, n), -1)),
            },
        )
    }
    child_of = {"CHILD": child, "DOB": dob_text}
    tables["episodes"] = _episodes(ctx, hist, ep, owner, b, child, rng)
    la_text = la_codes[c_la].astype(str)
    tables.update(
        _child_tables(hist, ep, owner, first, c_subject, a, b, year, child_of, sex, la_text, rng)
    )
    truth_parts = []
    bounds = np.searchsorted(c_la, np.arange(len(pop.las) + 1))
    for i, la in enumerate(pop.las):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if xml_form(i):
            path = la_return_xml_path(ctx.landing, FEED, year, la.code)
            records = _xml_children(tables, spec, lo, hi)
            on_file(ctx.relative(path), write_xml(path, _PROLOG, records, _EPILOG))
            rows = np.arange(1, hi - lo + 1)
        else:
            path = la_return_table_path(ctx.landing, FEED, year, la.code, "header")
            _write_csvs(ctx, spec, tables, year, la.code, lo, hi, on_file)
            rows = np.arange(2, hi - lo + 2)
        truth_parts.append(
            truth_table(
                ctx.relative(path),
                rows,
                subj.person_id[c_subject[lo:hi]],
                ids["label"][lo:hi],
            )
        )
    truth = pa.concat_tables(truth_parts) if truth_parts else empty_truth()
    return truth, []


def _episodes(ctx, hist, ep, owner, b, child, rng) -> _Table:
    """Episodes as on 31 March: an episode still open then has no DEC or REC yet."""
    pop, care = ctx.pop, hist.care
    m = ep.size
    ended = care.dec[ep] <= b
    person = hist.subjects.person_id[care.subject[ep]]
    pupil = person >= 0
    census = pop.census_day.astype(np.int64)
    t = np.clip(np.searchsorted(census, care.decom[ep], side="right") - 1, 0, len(census) - 1)
    address = pop.address.value_at(np.where(pupil, person, 0), t, -1).astype(np.int64)
    book = ctx.address_strings["postcode"]
    home = book.take(pa.array(np.maximum(address, 0), mask=~pupil | (address < 0)))
    districts = pop.addresses.district_code[care.placement_district[ep]]
    inward = np.char.add(
        rng.integers(1, 10, m).astype(str),
        np.char.add(
            np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, m)],
            np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, m)],
        ),
    )
    placement = np.char.add(np.char.add(districts, " "), inward)
    return _Table(
        owner,
        {
            "CHILD": child.take(pa.array(owner)),
            "DECOM": _date(care.decom[ep]),
            "RNE": formats.codes(care.rne[ep]),
            "LS": formats.codes(care.legal_status[ep]),
            "CIN": formats.codes(care.need[ep]),
            "PLACE": formats.codes(care.placement[ep]),
            "PLACE_PROVIDER": formats.codes(care.provider[ep]),
            "DEC": _date(np.where(ended, care.dec[ep], -1)),
            "REC": formats.codes(np.where(ended, care.reason_ceased[ep], "")),
            "REASON_PLACE_CHANGE": formats.codes(np.where(ended, care.place_change[ep], "")),
            "HOME_POST": home,
            "PL_POST": formats.codes(placement),
            "URN": formats.codes(care.placement_urn[ep]),
        },
    )


def _repeat(values: pa.Array, owner: np.ndarray) -> pa.Array:
    return values.take(pa.array(owner))


def _child_tables(hist, ep, owner, first, c_subject, a, b, year, child_of, sex, la_code, rng):
    """UASC, reviews, missing, OC2, OC3, adoption, previous permanence and social workers."""
    care, subj = hist.care, hist.subjects
    n = c_subject.size
    dob = subj.dob[c_subject]
    age = (b - dob) / YEAR
    out: dict[str, _Table] = {}

    def table(rows: np.ndarray, columns: dict[str, pa.Array]) -> _Table:
        return _Table(
            rows,
            {"CHILD": _repeat(child_of["CHILD"], rows), "DOB": _repeat(child_of["DOB"], rows)}
            | columns,
        )

    uasc = np.flatnonzero(subj.uasc[c_subject])
    out["uasc"] = table(uasc, {"SEX": _repeat(sex, uasc), "DUC": _date(dob[uasc] + int(18 * YEAR))})
    # The child's latest period of care in this return.
    period = care.period[ep]
    last_of_child = np.r_[first[1:], True] if ep.size else first
    p_start = hist.care_start[period[last_of_child]]
    p_end = hist.care_end[period[last_of_child]]
    # Reviews: 20 days in, three months in, then every six months.
    count = np.clip((np.minimum(p_end, b) - p_start - 20) // 182 + 2, 0, 40)
    who = np.repeat(np.arange(n), count)
    k = np.arange(who.size) - np.repeat(np.cumsum(count) - count, count)
    when = p_start[who] + np.where(k == 0, 20, np.where(k == 1, 92, 92 + 182 * (k - 1)))
    inside = (when >= a) & (when <= np.minimum(p_end[who], b))
    who, when = who[inside], when[inside]
    code = np.where(
        age[who] < 4,
        "PN0",
        _pick(
            rng,
            {
                "PN1": 0.7,
                "PN2": 0.05,
                "PN3": 0.05,
                "PN4": 0.05,
                "PN5": 0.05,
                "PN6": 0.07,
                "PN7": 0.03,
            },
            who.size,
        ),
    )
    out["reviews"] = table(who, {"REVIEW": _date(when), "REVIEW_CODE": formats.codes(code)})
    # Missing and away episodes: some children aged 11+.
    going = (age >= 11) & (rng.random(n) < 0.12)
    count = np.where(going, rng.poisson(1.5, n) + 1, 0)
    who = np.repeat(np.arange(n), count)
    lo = np.maximum(p_start[who], a)
    hi = np.minimum(p_end[who], b)
    start = lo + (rng.random(who.size) * np.maximum(hi - lo, 0)).astype(np.int64)
    start = np.sort(start + who * (2**33)) - who * (2**33)  # in date order within a child
    end = start + rng.integers(0, 6, who.size)
    out["missing"] = table(
        who,
        {
            "MISSING": formats.codes(np.where(rng.random(who.size) < 0.6, "M", "A")),
            "MIS_START": _date(start),
            "MIS_END": _date(end, b),
        },
    )
    # OC2: looked after continuously for twelve months at 31 March.
    oc2 = np.flatnonzero((p_start <= b - 365) & (p_end > b))
    o_age = age[oc2]
    sdq_age = (o_age >= 4) & (o_age <= 16)
    r = rng.random((oc2.size, 8))
    out["oc2"] = table(
        oc2,
        {
            "SDQ_SCORE": formats.integers(
                np.clip(rng.normal(14, 6, oc2.size).round(), 0, 40), ~sdq_age
            ),
            "SDQ_REASON": formats.codes(np.where(sdq_age, "", np.where(o_age < 4, "SDQ1", "SDQ4"))),
            "CONVICTED": formats.booleans((o_age >= 10) & (r[:, 0] < 0.03), true="1", false="0"),
            "HEALTH_CHECK": formats.booleans(r[:, 1] < 0.9, true="1", false="0"),
            "IMMUNISATIONS": formats.booleans(r[:, 2] < 0.85, true="1", false="0"),
            "TEETH_CHECK": formats.booleans(r[:, 3] < 0.8, true="1", false="0"),
            "HEALTH_ASSESSMENT": formats.booleans(r[:, 4] < 0.88, true="1", false="0"),
            "SUBSTANCE_MISUSE": formats.booleans(
                (o_age >= 10) & (r[:, 5] < 0.03), true="1", false="0"
            ),
            "INTERVENTION_RECEIVED": formats.booleans(r[:, 6] < 0.02, true="1", false="0"),
            "INTERVENTION_OFFERED": formats.booleans(r[:, 7] < 0.02, true="1", false="0"),
        },
    )
    # OC3: care leavers who turned 17 or 18 in the year (those who left care at 16+).
    left = (p_end <= b) & ((p_end - dob) / YEAR >= 16)
    birthday = (age >= 17) & (age < 19)
    oc3 = np.flatnonzero(left & birthday)
    out["oc3"] = table(
        oc3,
        {
            "IN_TOUCH": formats.codes(
                _pick(rng, {"YES": 0.85, "NO": 0.05, "REFU": 0.04, "NREQ": 0.06}, oc3.size)
            ),
            "ACTIV": formats.codes(
                _pick(
                    rng,
                    {"F1": 0.3, "F2": 0.2, "P1": 0.1, "P2": 0.05, "G4": 0.15, "G5": 0.1, "G6": 0.1},
                    oc3.size,
                )
            ),
            "ACCOM": formats.codes(
                _pick(
                    rng,
                    {
                        "B1": 0.15,
                        "C1": 0.1,
                        "D1": 0.15,
                        "E1": 0.1,
                        "H1": 0.15,
                        "K1": 0.1,
                        "R1": 0.1,
                        "S1": 0.1,
                        "U1": 0.05,
                    },
                    oc3.size,
                )
            ),
        },
    )
    # Adoption: children adopted in the year (AD1) and those placed for adoption.
    rec = care.reason_ceased[ep]
    adopted_ep = np.isin(rec, ("E11", "E12")) & (care.dec[ep] >= a) & (care.dec[ep] <= b)
    adopted = np.unique(owner[adopted_ep])
    should = p_start[adopted] + rng.integers(120, 300, adopted.size)
    match = should + rng.integers(30, 200, adopted.size)
    two = rng.random(adopted.size) < 0.8
    out["ad1"] = table(
        adopted,
        {
            "DATE_INT": _date(should),
            "DATE_MATCH": _date(match),
            "FOSTER_CARE": formats.booleans(rng.random(adopted.size) < 0.15, true="1", false="0"),
            "NB_ADOPTR": formats.integers(np.where(two, 2, 1)),
            "SEX_ADOPTR": formats.codes(
                np.where(
                    two,
                    _pick(rng, {"MF": 0.8, "MM": 0.1, "FF": 0.1}, adopted.size),
                    np.where(rng.random(adopted.size) < 0.7, "F1", "M1"),
                )
            ),
            "LS_ADOPTR": formats.codes(
                _pick(
                    rng,
                    {"L0": 0.1, "L11": 0.5, "L12": 0.2, "L2": 0.1, "L3": 0.05, "L4": 0.05},
                    adopted.size,
                )
            ),
        },
    )
    placed_ep = np.isin(care.placement[ep], ("A3", "A4", "A5", "A6"))
    placed_first = (
        placed_ep & np.r_[True, (owner[1:] != owner[:-1]) | ~placed_ep[:-1]]
        if ep.size
        else placed_ep
    )
    rows = np.flatnonzero(placed_first)
    out["placed_for_adoption"] = table(
        owner[rows],
        {
            "DATE_PLACED": _date(care.decom[ep][rows]),
            "DATE_PLACED_CEASED": _date(np.full(rows.size, -1)),
            "REASON_PLACED_CEASED": formats.blank(rows.size),
        },
    )
    # Previous permanence: asked of children who started care in the year.
    starters = np.flatnonzero((p_start >= a) & (p_start <= b))
    perm = _pick(rng, {"Z1": 0.92, "P1": 0.02, "P2": 0.03, "P3": 0.03}, starters.size)
    known = perm != "Z1"
    out["previous_permanence"] = table(
        starters,
        {
            "PREV_PERM": formats.codes(perm),
            "LA_PERM": formats.codes(np.where(known, la_code[starters], "")),
            "DATE_PERM": _date(
                np.where(known, p_start[starters] - rng.integers(400, 3000, starters.size), -1)
            ),
        },
    )
    # Social worker episodes (from 2023/24): one to three per child in the year.
    count = np.where(year.start >= SW_FROM, rng.integers(1, 4, n), 0)
    who = np.repeat(np.arange(n), count)
    k = np.arange(who.size) - np.repeat(np.cumsum(count) - count, count)
    span = np.maximum(np.minimum(p_end, b) - np.maximum(p_start, a), 1)
    sw_start = np.maximum(p_start[who], a) + (k * span[who]) // count[who]
    sw_end = np.where(
        k < count[who] - 1, np.maximum(p_start[who], a) + ((k + 1) * span[who]) // count[who], -1
    )
    out["sw_episodes"] = table(
        who,
        {
            "SW_ID": formats.codes(
                np.char.add("SW", rng.integers(10000, 99999, who.size).astype(str))
            ),
            "SW_DECOM": _date(sw_start),
            "SW_DEC": _date(sw_end, b),
            "SW_REASON": formats.codes(
                np.where(
                    sw_end >= 0,
                    _pick(rng, {"MANAGE": 0.5, "LEFTRL": 0.4, "OTHERS": 0.1}, who.size),
                    "",
                )
            ),
        },
    )
    return out


def _slice(t: _Table, lo: int, hi: int) -> tuple[int, int]:
    return int(np.searchsorted(t.owner, lo)), int(np.searchsorted(t.owner, hi))


def _write_csvs(ctx, spec: FeedSpec, tables, year, la_code, lo, hi, on_file) -> None:
    for name, table_spec in spec.tables.items():
        t = tables[name]
        i, j = _slice(t, lo, hi)
        header = [f.source for f in table_spec.fields if f.source != "UASC"]
        columns = [
            t.columns[h].slice(i, j - i) if h in t.columns else formats.blank(j - i) for h in header
        ]
        path = la_return_table_path(ctx.landing, FEED, year, la_code, name)
        on_file(ctx.relative(path), formats.write_csv(path, header, columns))


def _group(t: _Table, tag: str, sources: list[str], lo: int, hi: int, rename=None) -> pa.Array:
    """Each child's rows of a table as repeated <tag> elements ('' for none)."""
    i, j = _slice(t, lo, hi)
    rename = rename or {}
    inner = concat(*(element(rename.get(s, s), t.columns[s].slice(i, j - i)) for s in sources))
    return nest(wrap(tag, inner), t.owner[i:j] - lo, hi - lo)


def _fields(t: _Table, sources: list[str], lo: int, hi: int) -> pa.Array:
    """A table with at most one row per child, as elements inside the child's HEADER."""
    i, j = _slice(t, lo, hi)
    inner = concat(*(element(s, t.columns[s].slice(i, j - i)) for s in sources))
    return nest(inner, t.owner[i:j] - lo, hi - lo)


def _xml_children(tables: dict[str, _Table], spec: FeedSpec, lo: int, hi: int) -> pa.Array:
    """One <CHILD> per child of the LA: HEADER items and groups, then EPISODEs (fake_903.xml)."""
    h = tables["header"]
    n = hi - lo

    def col(name: str) -> pa.Array:
        return h.columns[name].slice(lo, n)

    uasc_flag = _fields(
        _Table(
            tables["uasc"].owner, {"UASC": pa.array(["1"] * len(tables["uasc"].owner), pa.string())}
        ),
        ["UASC"],
        lo,
        hi,
    )
    header = wrap(
        "HEADER",
        concat(
            element("CHILDID", col("CHILD")),
            element("UPN", col("UPN")),
            element("SEX", col("SEX")),
            element("DOB", col("DOB")),
            element("ETHNIC", col("ETHNIC")),
            uasc_flag,
            _fields(tables["uasc"], ["DUC"], lo, hi),
            _fields(tables["oc3"], ["IN_TOUCH", "ACTIV", "ACCOM"], lo, hi),
            _fields(
                tables["ad1"],
                ["DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"],
                lo,
                hi,
            ),
            _group(tables["reviews"], "AREVIEW", ["REVIEW", "REVIEW_CODE"], lo, hi),
            element("MOTHER", col("MOTHER")),
            element("MC_DOB", col("MC_DOB")),
            _group(
                tables["oc2"],
                "OC2",
                [
                    "SDQ_SCORE",
                    "SDQ_REASON",
                    "CONVICTED",
                    "HEALTH_CHECK",
                    "IMMUNISATIONS",
                    "TEETH_CHECK",
                    "HEALTH_ASSESSMENT",
                    "SUBSTANCE_MISUSE",
                    "INTERVENTION_RECEIVED",
                    "INTERVENTION_OFFERED",
                ],
                lo,
                hi,
            ),
            _group(
                tables["placed_for_adoption"],
                "AD_PLACED",
                ["DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"],
                lo,
                hi,
            ),
            _group(
                tables["missing"], "MISSING_EPISODE", ["MISSING", "MIS_START", "MIS_END"], lo, hi
            ),
            _fields(tables["previous_permanence"], ["PREV_PERM", "LA_PERM", "DATE_PERM"], lo, hi),
        ),
    )
    episodes = _group(
        tables["episodes"],
        "EPISODE",
        [
            "DECOM",
            "RNE",
            "LS",
            "CIN",
            "PLACE",
            "PL_POST",
            "HOME_POST",
            "URN",
            "PLACE_PROVIDER",
            "DEC",
            "REC",
            "REASON_PLACE_CHANGE",
        ],
        lo,
        hi,
        rename={"PLACE": "PL"},
    )
    workers = _group(
        tables["sw_episodes"], "SW_EPISODE", ["SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"], lo, hi
    )
    return wrap("CHILD", concat(header, episodes, workers))


_PROLOG = '<?xml version="1.0" encoding="utf-8"?>\n<EXPSSDA903>\n'
_EPILOG = "</EXPSSDA903>\n"
