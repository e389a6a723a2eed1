"""Population and dynamics rates: the one table of how often things happen to pupils.

Defect rates (what goes wrong in the files, including the persisting ones such as
temporary UPNs and surname changes) live in synth/defects.py; these are the rates of
real events (moves, joiners, FSM, SEN...) that the generator simulates. Tests, docs
and benchmarks read them from here.
"""

from __future__ import annotations

from types import MappingProxyType

_TABLE: tuple[tuple[str, float, str], ...] = (
    # who is on roll
    ("stay_on_sixth_form", 0.45, "Y11 pupils who stay on into Y12/13 at a school sixth form"),
    ("special_school", 0.015, "pupils in special schools (all with an EHC plan)"),
    ("out_of_year_group", 0.005, "pupils taught outside their age's NC year (mostly held back)"),
    ("cohort_decline", 0.015, "yearly fall in the Reception intake (falling births)"),
    # movement between censuses
    ("move_per_term", 0.03, "pupils changing school between consecutive censuses"),
    ("move_cross_la", 0.15, "share of those moves that change LA (always with a new address)"),
    ("move_new_address", 0.40, "share of moves within an LA that come with a new address"),
    ("leave_per_year", 0.015, "pupils leaving state schools mid-phase (abroad, home, private)"),
    ("join_per_year", 0.01, "pupils joining from abroad per year, as a share of pupils on roll"),
    ("dual_registration", 0.0015, "pupils given a subsidiary registration at a second school"),
    # characteristics
    ("male", 0.51, "boys"),
    ("middle_name", 0.60, "pupils with a middle name"),
    ("second_middle_name", 0.12, "of those, pupils with two"),
    ("fsm_on_census_day", 0.24, "eligible for FSM on census day (national mean; LAs vary)"),
    ("fsm_exit_per_term", 0.08, "eligible pupils who stop being eligible by the next census"),
    ("sen_support", 0.13, "SEN provision K (SEN support)"),
    ("sen_ehc_plan", 0.04, "SEN provision E (EHC plan)"),
    ("sen_second_need", 0.30, "SEN pupils with a rank 2 need"),
    ("uln_in_census_y10_plus", 0.90, "Y10+ pupils whose census record carries their ULN"),
)

RATES = MappingProxyType({name: value for name, value, _ in _TABLE})
NOTES = MappingProxyType({name: note for name, _, note in _TABLE})


def markdown() -> str:
    """The rates table as it appears in docs/synthetic-data.md (a test keeps them equal)."""
    lines = ["| rate | value | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {value:.2%} | {note} |" for name, value, note in _TABLE]
    return "\n".join(lines)
