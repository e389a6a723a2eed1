"""Schools per LA: primaries, secondaries (some with sixth forms) and special schools.

Counts follow the pupils each LA needs at realistic sizes (primary ~300, secondary
~1,000, special ~130), capped by the DfE establishment-number ranges (primary 2000-3999,
secondary 4000-4999, special 7000-7999). Picking a school for many pupils at once is
one searchsorted over per-LA cumulative weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.geography import LocalAuthority

PRIMARY, SECONDARY, SPECIAL = 0, 1, 2
PHASE_NAMES = ("Primary", "Secondary", "Special")
# School groups a pupil can be placed in: by phase, plus secondaries that have a sixth form.
GROUP_PRIMARY, GROUP_SECONDARY, GROUP_SIXTH, GROUP_SPECIAL = 0, 1, 2, 3

_ESTAB_RANGES = {PRIMARY: (2000, 4000), SECONDARY: (4000, 5000), SPECIAL: (7000, 8000)}
_SIZE = {PRIMARY: 300.0, SECONDARY: 1000.0, SPECIAL: 130.0}
SIXTH_FORM_SHARE = 0.6
# Even a tiny run has a choice of schools, so pupils can move within their LA.
_MIN_COUNT = {PRIMARY: 4, SECONDARY: 2, SPECIAL: 1}

_PLACES = [
    "Oakfield",
    "Meadowside",
    "Hillside",
    "Riverside",
    "Greenfield",
    "Westfield",
    "Brookside",
    "Ashgrove",
    "Beechwood",
    "Elmwood",
    "Fairfield",
    "Highfield",
    "Larkrise",
    "Millbrook",
    "Northgate",
    "Orchard",
    "Parkside",
    "Queensbridge",
    "Rosewood",
    "Southfields",
    "Thornhill",
    "Valley",
    "Willowbank",
    "Woodlands",
    "Abbey",
    "Ashley",
    "Barnfield",
    "Beacon",
    "Bramley",
    "Broadoak",
    "Castle",
    "Cedars",
    "Chestnut",
    "Churchill",
    "Cliffe",
    "Coppice",
    "Court",
    "Cranbrook",
    "Crown",
    "Eastbrook",
    "Edgewood",
    "Fernhill",
    "Fieldway",
    "Forest",
    "Glebe",
    "Grange",
    "Hawthorn",
    "Heathfield",
    "Holly",
    "Kingsway",
    "Lakeside",
    "Limes",
    "Linden",
    "Manor",
    "Maple",
    "Marlborough",
    "Moorland",
    "Newlands",
    "Oaklands",
    "Oakwood",
    "Priory",
    "Redhill",
    "Ridgeway",
    "Rowan",
    "Sandhill",
    "Springfield",
    "Stanley",
    "Stoneleigh",
    "Sunnyside",
    "Sycamore",
    "Temple",
    "Townsend",
    "Trinity",
    "Upton",
    "Victoria",
    "Waterside",
    "Wellington",
    "Whitehill",
    "Windmill",
    "Woodside",
    "Yewtree",
    "Albion",
    "Alder",
    "Applegarth",
    "Avenue",
    "Bishops",
    "Blackthorn",
    "Bluebell",
    "Briar",
    "Canal",
    "Carlton",
    "Chapel",
    "Clarendon",
    "Dovecote",
    "Foxhill",
    "Gladstone",
    "Hazel",
    "Heron",
    "Jubilee",
    "Kestrel",
    "Limetree",
    "Linnet",
    "Mayfield",
    "Mount",
    "Nightingale",
    "Oriel",
    "Pinewood",
    "Poplar",
    "Rivermead",
    "Shaftesbury",
    "Skylark",
    "Stonebridge",
    "Swallow",
    "Tudor",
    "Waverley",
    "Whitefriars",
    "Wildwood",
    "Wren",
]
_SAINTS = [
    "Mary's",
    "John's",
    "Peter's",
    "Paul's",
    "Andrew's",
    "Michael's",
    "Joseph's",
    "Anne's",
    "Thomas's",
    "Mark's",
]
_PRIMARY_KINDS = (
    "{p} Primary School",
    "{p} Community Primary School",
    "{p} Primary Academy",
    "{p} Junior and Infant School",
    "St {s} CofE Primary School",
    "St {s} Catholic Primary School",
)
_SECONDARY_KINDS = (
    "{p} Academy",
    "{p} High School",
    "{p} School",
    "{p} College",
    "{p} Grammar School",
)
_SPECIAL_KINDS = ("{p} School", "{p} Special School", "{p} Academy")


@dataclass(frozen=True)
class Schools:
    """Every school, one row per index; the index is what enrolment arrays hold."""

    la_idx: np.ndarray  # int16, index into the run's LA list
    la: np.ndarray  # int16 LA code
    estab: np.ndarray  # int16 DfE establishment number
    urn: np.ndarray  # int32, 6 digits
    phase: np.ndarray  # int8: PRIMARY, SECONDARY, SPECIAL
    sixth_form: np.ndarray  # bool
    weight: np.ndarray  # float64, relative size
    name: np.ndarray  # str
    # group -> (school indices sorted by LA, cumulative weight offset by LA index)
    _groups: dict[int, tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.la)

    @property
    def laestab(self) -> np.ndarray:
        return self.la.astype(np.int32) * 10000 + self.estab

    @property
    def native_id(self) -> np.ndarray:
        return np.char.add("SCH", self.estab.astype(str))

    def pick(
        self, rng: np.random.Generator, group: int | np.ndarray, la_idx: np.ndarray
    ) -> np.ndarray:
        """A school of the pupil's group in each pupil's LA, chosen in proportion to size."""
        la_idx = np.asarray(la_idx)
        u = la_idx.astype(np.float64) + rng.random(len(la_idx)) * (1 - 1e-9)
        groups = np.broadcast_to(np.asarray(group), la_idx.shape)
        out = np.empty(len(la_idx), dtype=np.int32)
        for g in np.unique(groups):
            rows = groups == g
            members, cum = self._groups[int(g)]
            pos = np.searchsorted(cum, u[rows], side="right")
            out[rows] = members[np.minimum(pos, len(members) - 1)]
        return out


def group_of(nc_year: np.ndarray, special: np.ndarray) -> np.ndarray:
    """The school group a pupil belongs in: special, primary (R-6), secondary (7-11), sixth."""
    group = np.where(
        nc_year <= 6, GROUP_PRIMARY, np.where(nc_year <= 11, GROUP_SECONDARY, GROUP_SIXTH)
    )
    return np.where(special, GROUP_SPECIAL, group).astype(np.int8)


def build_schools(
    rng: np.random.Generator, las: list[LocalAuthority], pupils_by_la: np.ndarray
) -> Schools:
    """Enough schools in each LA for its pupils (at least one of each kind, incl. a sixth form)."""
    rows: dict[str, list] = {
        k: [] for k in ("la_idx", "la", "estab", "phase", "sixth", "weight", "name")
    }
    # Shares of pupils by phase: R-6 is 7 of 12.9 year groups, 7-13 the rest, special 1.5%.
    share = {PRIMARY: 7 / 12.9 * 0.985, SECONDARY: 5.9 / 12.9 * 0.985, SPECIAL: 0.015}
    for i, la in enumerate(las):
        used_names: set[str] = set()
        places = [*_PLACES, *sorted({town for _, town in la.districts})]
        for phase in (PRIMARY, SECONDARY, SPECIAL):
            lo, hi = _ESTAB_RANGES[phase]
            wanted = round(pupils_by_la[i] * share[phase] / _SIZE[phase])
            count = int(np.clip(wanted, _MIN_COUNT[phase], (hi - lo) * 9 // 10))
            estabs = np.sort(rng.choice(np.arange(lo, hi), size=count, replace=False))
            sixth = np.zeros(count, dtype=bool)
            if phase == SECONDARY:
                sixth = rng.random(count) < SIXTH_FORM_SHARE
                sixth[rng.integers(count)] = True
            weight = rng.lognormal(0.0, 0.35, size=count)
            kinds = {PRIMARY: _PRIMARY_KINDS, SECONDARY: _SECONDARY_KINDS, SPECIAL: _SPECIAL_KINDS}[
                phase
            ]
            for _ in range(count):  # a few thousand schools at most: names need not be vectorised
                rows["name"].append(_school_name(rng, kinds, places, used_names))
            rows["la_idx"].append(np.full(count, i))
            rows["la"].append(np.full(count, la.code))
            rows["estab"].append(estabs)
            rows["phase"].append(np.full(count, phase))
            rows["sixth"].append(sixth)
            rows["weight"].append(weight)
    la_idx = np.concatenate(rows["la_idx"]).astype(np.int16)
    phase = np.concatenate(rows["phase"]).astype(np.int8)
    sixth = np.concatenate(rows["sixth"])
    weight = np.concatenate(rows["weight"])
    urn = (
        100000 + rng.choice(np.arange(50000 + 3 * len(la_idx)), size=len(la_idx), replace=False)
    ).astype(np.int32)
    groups = {
        GROUP_PRIMARY: phase == PRIMARY,
        GROUP_SECONDARY: phase == SECONDARY,
        GROUP_SIXTH: (phase == SECONDARY) & sixth,
        GROUP_SPECIAL: phase == SPECIAL,
    }
    return Schools(
        la_idx=la_idx,
        la=np.concatenate(rows["la"]).astype(np.int16),
        estab=np.concatenate(rows["estab"]).astype(np.int16),
        urn=urn,
        phase=phase,
        sixth_form=sixth,
        weight=weight,
        name=np.array(rows["name"]),
        _groups={
            g: _cumulative(np.flatnonzero(mask), la_idx, weight) for g, mask in groups.items()
        },
    )


def _cumulative(
    members: np.ndarray, la_idx: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Members sorted by LA with cumulative weights mapped onto [la, la + 1) per LA."""
    members = members[np.argsort(la_idx[members], kind="stable")]
    las = la_idx[members].astype(np.float64)
    w = weight[members]
    totals = np.bincount(la_idx[members], weights=w)
    cum_within = np.cumsum(w) - np.concatenate([[0.0], np.cumsum(totals)])[la_idx[members]]
    return members, las + cum_within / totals[la_idx[members]]


def _school_name(
    rng: np.random.Generator, kinds: tuple[str, ...], places: list[str], used: set[str]
) -> str:
    for _ in range(20):
        kind = kinds[rng.integers(len(kinds))]
        name = kind.format(
            p=places[rng.integers(len(places))], s=_SAINTS[rng.integers(len(_SAINTS))]
        )
        if name not in used:
            used.add(name)
            return name
    name = f"{name} ({len(used) + 1})"
    used.add(name)
    return name
