"""Home addresses: real postcode districts per LA with synthetic sectors and units.

A postcode looks real (`NW5 2QL`: a real outward code, a sector digit and two unit
letters from the letters Royal Mail uses) but is not checked against any real address.
Pupils tend to live in or near their school's district. Addresses are rows in a growing
book; people point at them through an address History.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.geography import LocalAuthority

_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # never C, I, K, M, O, V in the unit
STREETS = np.array(
    """
High Street|Station Road|Church Road|Main Street|Park Road|London Road|Victoria Road|Green Lane
Manor Road|Church Street|Park Avenue|Queens Road|The Avenue|Grange Road|New Road|Kings Road
Albert Road|North Street|Mill Lane|Springfield Road|School Lane|Windsor Road|Highfield Road
Stanley Road|The Crescent|Richmond Road|York Road|Chester Road|George Street|Alexandra Road
Broadway|Queen Street|Church Lane|South Street|Brook Road|Cedar Avenue|Mill Road|Orchard Close
The Green|Elm Grove|Oak Avenue|Beech Road|West Street|Park Lane|Woodland Road|Meadow Way
Cromwell Road|Grove Road|Salisbury Road|Hill Street|Nelson Road|Bridge Street|King Street
Westfield Road|Chapel Street|Farm Lane|Rectory Road|Market Street|Princes Road|Moor Lane
Clarence Road|Warwick Road|Harrow Road|Pine Close|Ash Grove|Willow Way|Lime Grove|Cherry Tree Road
St Johns Road|St Marys Road|Hawthorn Close|Holly Road|Sycamore Avenue|Birch Close|Maple Drive
Canal Street|Wellington Road|Nursery Road|Vicarage Road|Heath Road|Forest Road|Rose Lane
""".strip()
    .replace("\n", "|")
    .split("|")
)


@dataclass
class AddressBook:
    """Every address used in a run. Index = address id."""

    las: list[LocalAuthority]
    rng: np.random.Generator
    district_code: np.ndarray = field(init=False)  # outward codes, all LAs
    district_town: np.ndarray = field(init=False)
    district_la: np.ndarray = field(init=False)
    _cum: np.ndarray = field(init=False)  # cumulative weights mapped onto [la, la + 1)
    _chunks: list[dict[str, np.ndarray]] = field(default_factory=list, init=False)
    _size: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        codes, towns, owner = [], [], []
        for i, la in enumerate(self.las):
            for outward, town in la.districts:
                codes.append(outward)
                towns.append(town)
                owner.append(i)
        self.district_code = np.array(codes)
        self.district_town = np.array(towns)
        self.district_la = np.array(owner, dtype=np.int16)
        weight = self.rng.lognormal(0.0, 0.4, size=len(codes))
        totals = np.bincount(self.district_la, weights=weight)
        before = np.concatenate([[0.0], np.cumsum(totals)])[self.district_la]
        self._cum = self.district_la + (np.cumsum(weight) - before) / totals[self.district_la]

    def random_district(self, la_idx: np.ndarray) -> np.ndarray:
        u = la_idx + self.rng.random(len(la_idx)) * (1 - 1e-9)
        return np.minimum(np.searchsorted(self._cum, u, side="right"), len(self._cum) - 1)

    def new(
        self, la_idx: np.ndarray, near: np.ndarray | None = None, near_share: float = 0.6
    ) -> np.ndarray:
        """New addresses in each LA (in district `near` for a share of them); returns ids."""
        n = len(la_idx)
        district = self.random_district(la_idx)
        if near is not None:
            use = self.rng.random(n) < near_share
            district = np.where(use, near, district)
        rng = self.rng
        house = np.minimum(rng.zipf(1.6, size=n), 250)
        chunk = {
            "district": district.astype(np.int32),
            "sector": rng.integers(1, 10, size=n).astype(np.int8),
            "unit": rng.integers(0, 400, size=n).astype(np.int16),
            "house": house.astype(np.int16),
            "suffix": (rng.random(n) < 0.03),
            "street": rng.integers(0, len(STREETS), size=n).astype(np.int16),
            "uprn": rng.integers(10_000_000_000, 100_099_999_999, size=n, dtype=np.int64),
        }
        self._chunks.append(chunk)
        ids = np.arange(self._size, self._size + n, dtype=np.int64)
        self._size += n
        return ids

    def freeze(self) -> Addresses:
        cols = (
            {k: np.concatenate([c[k] for c in self._chunks]) for k in self._chunks[0]}
            if self._chunks
            else {}
        )
        return Addresses(
            district_code=self.district_code,
            district_town=self.district_town,
            district_la=self.district_la,
            **cols,
        )


@dataclass(frozen=True)
class Addresses:
    district_code: np.ndarray
    district_town: np.ndarray
    district_la: np.ndarray
    district: np.ndarray
    sector: np.ndarray
    unit: np.ndarray
    house: np.ndarray
    suffix: np.ndarray
    street: np.ndarray
    uprn: np.ndarray

    def __len__(self) -> int:
        return len(self.district)

    def postcode(self, ids: np.ndarray) -> np.ndarray:
        d = self.district[ids]
        unit = self.unit[ids]
        inward = np.char.add(
            self.sector[ids].astype("U1"),
            np.char.add(_UNIT_LETTERS[unit // 20], _UNIT_LETTERS[unit % 20]),
        )
        return np.char.add(np.char.add(self.district_code[d], " "), inward)

    def paon(self, ids: np.ndarray) -> np.ndarray:
        return np.char.add(self.house[ids].astype(str), np.where(self.suffix[ids], "A", ""))

    def street_name(self, ids: np.ndarray) -> np.ndarray:
        return STREETS[self.street[ids]]

    def town(self, ids: np.ndarray) -> np.ndarray:
        return self.district_town[self.district[ids]]
