"""The feeds the pipeline knows, read from the header of each spec in ingest/specs/.

Generic steps (stage, validate, link, load) look a feed up here and never branch on
its name, so adding a feed is a spec file (with its header), a derivation module,
a suite and catalogue rows. The registry is foundation: every layer names feeds and
partitions. It reads the spec files' headers as data and imports nothing above it
(ingest.stage loads a feed's derivation module by the name given here).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.periods import TERMS, AcademicYear, Term


@dataclass(frozen=True)
class Feed:
    name: str
    label: str
    termly: bool
    primary_table: str  # the staged table whose rows become the feed's records
    research_tables: tuple[str, ...]  # catalogue tables built from the records
    suite: str
    derive_module: str  # module with derive(con, ctx) creating table `records`

    def terms(self) -> tuple[Term | None, ...]:
        return TERMS if self.termly else (None,)

    def period_label(self, year: AcademicYear, term: Term | None) -> str:
        return f"{year.label} {term.value}" if term else year.label


def _load_feeds() -> dict[str, Feed]:
    """Every feed described in ingest/specs/*.yml, in the order the specs give."""
    from importlib import resources

    import yaml

    found = []
    for path in resources.files("ingest").joinpath("specs").iterdir():
        if not path.name.endswith(".yml"):
            continue
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.append(
            (
                raw.get("order", 999),
                Feed(
                    name=raw["feed"],
                    label=raw["label"],
                    termly=bool(raw["termly"]),
                    primary_table=raw["primary_table"],
                    research_tables=tuple(raw["research_tables"]),
                    suite=raw["suite"],
                    derive_module=raw["derive"],
                ),
            )
        )
    return {feed.name: feed for _, feed in sorted(found, key=lambda item: (item[0], item[1].name))}


FEEDS: dict[str, Feed] = _load_feeds()


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]
    except KeyError:
        known = ", ".join(FEEDS)
        raise KeyError(f"unknown feed {name!r} (known: {known})") from None


def check_period(feed: Feed, term: Term | str | None) -> Term | None:
    """A termly feed needs a term; an annual feed takes none."""
    if feed.termly:
        if term is None:
            raise ValueError(f"{feed.name} is termly: give a term (autumn, spring or summer)")
        return Term(term)
    if term not in (None, ""):
        raise ValueError(f"{feed.name} is annual: it takes no term")
    return None
