"""Population and dynamics rates: the one table of how often things happen to pupils.

Defect rates (what goes wrong in the files, including the persisting ones such as
temporary UPNs and surname changes) live in synth/defects.py; these are the
rates of real events (moves, joiners, FSM, SEN...) that the generator simulates.
Tests and docs read them from here.
"""

from __future__ import annotations

from types import MappingProxyType

RATES = MappingProxyType(
    {
        # who is on roll
        "stay_on_sixth_form": 0.45,  # share of Y11 who stay on into Y12/13 at a school sixth form
        "special_school": 0.015,  # share of pupils in special schools (all with an EHC plan)
        "out_of_year_group": 0.005,  # share of pupils taught outside their age's NC year
        "cohort_decline": 0.015,  # yearly fall in the Reception intake (falling births)
        # movement between censuses
        "move_per_term": 0.03,  # pupils changing school between consecutive censuses
        "move_cross_la": 0.15,  # share of those moves that change LA (with a new address)
        "move_new_address": 0.40,  # share of within-LA moves that come with a new address
        "leave_per_year": 0.015,  # pupils leaving state schools mid-phase (abroad, home, private)
        "join_per_year": 0.01,  # pupils joining from abroad, per year, as a share of pupils on roll
        "dual_registration": 0.0015,  # pupils with a subsidiary registration at a second school
        # characteristics
        "male": 0.51,
        "middle_name": 0.60,
        "second_middle_name": 0.12,  # of those with a middle name
        "fsm_on_census_day": 0.24,  # national mean; LAs vary around it
        "fsm_exit_per_term": 0.08,  # chance an eligible pupil stops being eligible by next census
        "sen_support": 0.13,  # SEN provision K
        "sen_ehc_plan": 0.04,  # SEN provision E
        "sen_second_need": 0.30,  # SEN pupils with a rank 2 need
        "uln_in_census_y10_plus": 0.90,  # Y10+ pupils whose census record carries their ULN
    }
)
