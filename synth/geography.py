"""Local authorities the generator can populate: size, postcode districts, towns, FSM rate.

Sizes are rough state-school pupil numbers (thousands); districts are real outward codes
inside each LA with the post town they belong to. LA names come from core/codelists.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.codes import is_valid_la_code, la_names


@dataclass(frozen=True)
class LocalAuthority:
    code: int
    pupils_k: float  # rough pupils on roll, thousands (sets the LA's share)
    fsm_rate: float  # relative FSM eligibility (rescaled to the national target)
    profile: str  # ethnicity profile in synth/ethnicity.py
    extended_ethnicity: float  # share of pupils recorded with an extended ethnicity code
    service_child: float  # share of service children
    districts: tuple[tuple[str, str], ...]  # (outward code, post town)

    @property
    def name(self) -> str:
        return la_names().get(str(self.code), f"LA{self.code}")


def _in(town: str, *outward: str) -> tuple[tuple[str, str], ...]:
    return tuple((o, town) for o in outward)


LOCAL_AUTHORITIES: dict[int, LocalAuthority] = {
    la.code: la
    for la in (
        LocalAuthority(
            202, 26, 0.37, "camden", 0.20, 0.002,
            _in("London", "NW1", "NW3", "NW5", "NW6", "WC1H", "WC1N", "WC1X", "N6", "N19"),
        ),
        LocalAuthority(
            204, 39, 0.40, "hackney", 0.30, 0.002,
            _in("London", "E2", "E5", "E8", "E9", "N1", "N4", "N16"),
        ),
        LocalAuthority(
            330, 215, 0.38, "birmingham", 0.30, 0.004,
            _in(
                "Birmingham", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B13", "B14",
                "B15", "B16", "B17", "B18", "B19", "B20", "B21", "B23", "B24", "B25", "B26",
                "B27", "B28", "B29", "B30", "B31", "B32", "B33", "B34", "B35", "B36", "B38",
                "B42", "B44",
            ),
        ),
        LocalAuthority(
            352, 95, 0.40, "manchester", 0.10, 0.003,
            _in(
                "Manchester", "M1", "M4", "M8", "M9", "M11", "M12", "M13", "M14", "M15", "M16",
                "M18", "M19", "M20", "M21", "M22", "M23", "M40",
            ),
        ),
        LocalAuthority(
            383, 130, 0.27, "leeds", 0.15, 0.005,
            _in(
                "Leeds", "LS6", "LS7", "LS8", "LS9", "LS10", "LS11", "LS12", "LS13", "LS14",
                "LS15", "LS16", "LS17", "LS25", "LS26", "LS27", "LS28",
            )
            + _in("Otley", "LS21"),
        ),
        LocalAuthority(
            886, 245, 0.24, "kent", 0.20, 0.010,
            _in("Maidstone", "ME14", "ME15", "ME16")
            + _in("Sittingbourne", "ME10")
            + _in("Faversham", "ME13")
            + _in("Canterbury", "CT1", "CT2")
            + _in("Whitstable", "CT5")
            + _in("Herne Bay", "CT6")
            + _in("Margate", "CT9")
            + _in("Broadstairs", "CT10")
            + _in("Ramsgate", "CT11")
            + _in("Dover", "CT16", "CT17")
            + _in("Folkestone", "CT19", "CT20")
            + _in("Tunbridge Wells", "TN1", "TN2", "TN4")
            + _in("Tonbridge", "TN9", "TN10")
            + _in("Sevenoaks", "TN13")
            + _in("Ashford", "TN23", "TN24")
            + _in("Dartford", "DA1", "DA2")
            + _in("Gravesend", "DA11", "DA12"),
        ),
        LocalAuthority(
            926, 125, 0.24, "norfolk", 0.30, 0.012,
            _in("Norwich", "NR1", "NR2", "NR3", "NR4", "NR5", "NR6", "NR7", "NR8")
            + _in("Wymondham", "NR18")
            + _in("Dereham", "NR19", "NR20")
            + _in("Cromer", "NR27")
            + _in("North Walsham", "NR28")
            + _in("Great Yarmouth", "NR29", "NR30", "NR31")
            + _in("King's Lynn", "PE30", "PE31")
            + _in("Swaffham", "PE37")
            + _in("Downham Market", "PE38")
            + _in("Thetford", "IP24"),
        ),
        LocalAuthority(
            908, 75, 0.26, "cornwall", 0.50, 0.012,
            _in("Truro", "TR1", "TR2")
            + _in("Newquay", "TR7", "TR8")
            + _in("Falmouth", "TR11")
            + _in("Helston", "TR13")
            + _in("Camborne", "TR14")
            + _in("Redruth", "TR15", "TR16")
            + _in("Penzance", "TR18", "TR20")
            + _in("St Ives", "TR26")
            + _in("Saltash", "PL12")
            + _in("Liskeard", "PL14")
            + _in("Launceston", "PL15")
            + _in("St Austell", "PL25", "PL26")
            + _in("Wadebridge", "PL27")
            + _in("Bodmin", "PL31")
            + _in("Bude", "EX23"),
        ),
        # Further LAs named in core/codelists, for runs that ask for them.
        LocalAuthority(
            203, 45, 0.30, "inner_london", 0.10, 0.003,
            _in("London", "SE3", "SE7", "SE9", "SE10", "SE18", "SE28"),
        ),
        LocalAuthority(
            206, 25, 0.43, "inner_london", 0.10, 0.002,
            _in("London", "N1", "N4", "N5", "N7", "N19", "EC1V"),
        ),
        LocalAuthority(
            210, 45, 0.36, "inner_london", 0.10, 0.002,
            _in("London", "SE1", "SE5", "SE15", "SE16", "SE17", "SE22"),
        ),
        LocalAuthority(
            211, 45, 0.47, "tower_hamlets", 0.30, 0.001,
            _in("London", "E1", "E1W", "E2", "E3", "E14"),
        ),
        LocalAuthority(
            341, 75, 0.38, "liverpool", 0.05, 0.003,
            _in(
                "Liverpool", "L4", "L5", "L6", "L7", "L8", "L9", "L11", "L12", "L13", "L14",
                "L15", "L17", "L18", "L19", "L24", "L25",
            ),
        ),
        LocalAuthority(
            380, 105, 0.30, "bradford", 0.20, 0.003,
            _in(
                "Bradford", "BD2", "BD3", "BD4", "BD5", "BD6", "BD7", "BD8", "BD9", "BD10",
                "BD15",
            )
            + _in("Keighley", "BD20", "BD21", "BD22")
            + _in("Shipley", "BD18"),
        ),
        LocalAuthority(
            850, 200, 0.17, "shire", 0.10, 0.035,
            _in("Basingstoke", "RG21", "RG22", "RG24")
            + _in("Winchester", "SO22", "SO23")
            + _in("Eastleigh", "SO50")
            + _in("Andover", "SP10")
            + _in("Aldershot", "GU11", "GU12")
            + _in("Fleet", "GU51")
            + _in("Waterlooville", "PO7", "PO8"),
        ),
        LocalAuthority(
            873, 95, 0.18, "shire", 0.10, 0.008,
            _in("Cambridge", "CB1", "CB2", "CB3", "CB4", "CB5")
            + _in("Ely", "CB6", "CB7")
            + _in("Huntingdon", "PE28", "PE29")
            + _in("St Neots", "PE19")
            + _in("Wisbech", "PE13")
            + _in("March", "PE15"),
        ),
        LocalAuthority(
            881, 230, 0.20, "shire", 0.10, 0.008,
            _in("Chelmsford", "CM1", "CM2")
            + _in("Colchester", "CO1", "CO2", "CO3", "CO4")
            + _in("Harlow", "CM17", "CM18", "CM20")
            + _in("Basildon", "SS13", "SS14", "SS15", "SS16")
            + _in("Clacton-on-Sea", "CO15", "CO16")
            + _in("Braintree", "CM7"),
        ),
        LocalAuthority(
            919, 195, 0.15, "shire", 0.10, 0.005,
            _in("St Albans", "AL1", "AL3", "AL4")
            + _in("Stevenage", "SG1", "SG2")
            + _in("Watford", "WD17", "WD18", "WD24", "WD25")
            + _in("Hemel Hempstead", "HP1", "HP2", "HP3")
            + _in("Hitchin", "SG4", "SG5")
            + _in("Welwyn Garden City", "AL7", "AL8"),
        ),
        LocalAuthority(
            935, 110, 0.22, "rural", 0.20, 0.012,
            _in("Ipswich", "IP1", "IP2", "IP3", "IP4", "IP5")
            + _in("Bury St Edmunds", "IP32", "IP33")
            + _in("Lowestoft", "NR32", "NR33")
            + _in("Newmarket", "CB8")
            + _in("Haverhill", "CB9")
            + _in("Stowmarket", "IP14"),
        ),
    )
}  # fmt: skip

DEFAULT_LAS: tuple[int, ...] = (202, 204, 330, 352, 383, 886, 926, 908)

for _code in LOCAL_AUTHORITIES:  # every code must be a real LA code (census error 1530)
    if not is_valid_la_code(_code):
        raise ValueError(f"synth geography lists invalid LA code {_code}")


def resolve(las: list[int] | None) -> list[LocalAuthority]:
    """The LAs to simulate, in the order given (default: the eight in DEFAULT_LAS)."""
    codes = list(las if las else DEFAULT_LAS)
    if len(set(codes)) != len(codes):
        raise ValueError("each LA may be listed once")
    unknown = [c for c in codes if c not in LOCAL_AUTHORITIES]
    if unknown:
        known = ", ".join(str(c) for c in sorted(LOCAL_AUTHORITIES))
        raise ValueError(f"no geography for LA {unknown}; choose from {known}")
    return [LOCAL_AUTHORITIES[c] for c in codes]


def other_la_codes() -> list[int]:
    """Every real (not pseudo) LA code: where pupils who moved in were first given a UPN."""
    from core.codes import la_code_ranges

    return [c for a, b in la_code_ranges() for c in range(max(a, 201), b + 1)]
