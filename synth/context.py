"""What every writer needs from a population, computed once per run.

Arrow copies of the identifier and name vocabularies (so a file column is one `take`),
school lookups, and a few stable per-person extras that only the files need (service
child, boarder, post-looked-after arrangement, whether a preferred surname is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.codes import codelist
from synth import formats
from synth.addresses import STREETS
from synth.names import FORENAMES, SURNAMES
from synth.population import Population
from synth.rng import stream

_PLAA = {"N": 0.986, "A": 0.007, "G": 0.004, "C": 0.002, "R": 0.001}
_BOARDER = {"B": 0.4, "6": 0.3, "7": 0.3}
for _list, _table in (("plaa", _PLAA), ("boarder", _BOARDER)):
    for _code in _table:
        if not codelist(_list).is_valid(_code):
            raise ValueError(f"{_code} is not a valid {_list} code in core/codelists")


@dataclass
class WriteContext:
    pop: Population
    landing: Path
    counters: dict[str, int] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.landing).as_posix()

    def next_ids(self, kind: str, n: int) -> np.ndarray:
        """Consecutive counters per id kind across the whole run (so ids never repeat)."""
        start = self.counters.get(kind, 0)
        self.counters[kind] = start + n
        return np.arange(start, start + n, dtype=np.uint64)

    @cached_property
    def upn_values(self) -> pa.Array:
        return pa.array(self.pop.upn.value.astype(str), type=pa.string())

    @cached_property
    def forenames(self) -> pa.Array:
        return pa.array(FORENAMES.astype(str))

    @cached_property
    def surnames(self) -> pa.Array:
        return pa.array(SURNAMES.astype(str))

    @cached_property
    def middle_names(self) -> pa.Array:
        """The middlenames field per person: one or two forenames, blank for none."""
        first = formats.vocab_take(self.forenames, self.pop.middle)
        second = formats.vocab_take(self.forenames, self.pop.middle2)
        both = pc.binary_join_element_wise(pc.fill_null(first, ""), pc.fill_null(second, ""), " ")
        both = pc.utf8_trim_whitespace(both)
        return pc.if_else(pc.equal(both, ""), pa.scalar(None, pa.string()), both)

    @cached_property
    def uln(self) -> pa.Array:
        return pa.array(self.pop.uln.astype(str), type=pa.string())

    def coded(self, name: str) -> tuple[pa.Array, np.ndarray]:
        """A per-person code column as (vocabulary, int index per person), computed once."""
        cache = self.__dict__.setdefault("_coded", {})
        if name not in cache:
            values = self.extras[name] if name in self.extras else getattr(self.pop, name)
            vocab, index = np.unique(values, return_inverse=True)
            cache[name] = (pa.array(vocab.astype(str)), index.astype(np.int32))
        return cache[name]

    def code_column(
        self, name: str, persons: np.ndarray, missing: np.ndarray | None = None
    ) -> pa.Array:
        vocab, index = self.coded(name)
        idx = index[persons]
        empty = np.asarray(vocab.to_numpy(zero_copy_only=False) == "")[idx]
        mask = empty if missing is None else (missing | empty)
        return vocab.take(pa.array(idx, mask=mask))

    @cached_property
    def address_strings(self) -> dict[str, pa.Array]:
        """Postcode, house number or name, street and town for every address, once per run."""
        book = self.pop.addresses
        letters = pa.array(list("ABDEFGHJLNPQRSTUWXYZ"))
        unit = book.unit.astype(np.int64)
        inward = pc.binary_join_element_wise(
            pc.cast(pa.array(book.sector), pa.string()),
            letters.take(pa.array(unit // 20)),
            letters.take(pa.array(unit % 20)),
            "",
        )
        outward = pa.array(book.district_code.astype(str)).take(pa.array(book.district))
        house = pc.cast(pa.array(book.house), pa.string())
        suffix = pa.array(["", "A"]).take(pa.array(book.suffix.astype(np.int64)))
        return {
            "postcode": pc.binary_join_element_wise(outward, inward, " "),
            "paon": pc.binary_join_element_wise(house, suffix, ""),
            "street": pa.array(STREETS.astype(str)).take(pa.array(book.street)),
            "town": pa.array(book.district_town.astype(str)).take(pa.array(book.district)),
            "uprn": pc.cast(pa.array(book.uprn), pa.string()),
        }

    @cached_property
    def native_id(self) -> pa.Array:
        return pa.array(self.pop.schools.native_id.astype(str))

    @cached_property
    def extras(self) -> dict[str, np.ndarray]:
        pop = self.pop
        n = pop.n_persons
        rng = stream(pop.seed, "extras")
        la_rate = np.array([la.service_child for la in pop.las])
        first_la = pop.schools.la_idx[np.maximum(pop.school[pop.first_period, pop.person_id], 0)]
        u = rng.random(n)
        service = np.where(
            u < la_rate[first_la], "Y", np.where(u > 0.992, "R", np.where(u > 0.989, "U", "N"))
        )
        plaa = _categorical(rng, n, _PLAA)
        boarder = np.where(rng.random(n) < 0.004, _categorical(rng, n, _BOARDER), "N")
        return {
            "service_child": service.astype("U1"),
            "plaa": plaa,
            "boarder": boarder,
            "preferred_blank": rng.random(n) < 0.07,
            "lunch": rng.random(n),
            "unit": rng.random(n),
        }


def _categorical(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    keys = np.array(list(weights))
    cdf = np.cumsum(list(weights.values()))
    cdf /= cdf[-1]
    return keys[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(keys) - 1)]
