"""Free school meals as eligibility periods, the way the census receives them.

Each person has a propensity (from their LA and latent disadvantage) calibrated so that
each LA's share eligible on census day matches its rate, rescaled to the national
target. Eligibility then evolves census to census as a two-state Markov chain, and the
runs of eligibility become (start, end) periods with dates between census days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.geography import LocalAuthority
from synth.rates import RATES


@dataclass(frozen=True)
class FsmPeriods:
    """Eligibility periods sorted by person then start; end is -1 while still open."""

    person: np.ndarray  # int64
    start: np.ndarray  # int32 days since 1970-01-01
    end: np.ndarray  # int32 days, -1 open at the end of the simulation


def la_targets(las: list[LocalAuthority], weights: np.ndarray) -> np.ndarray:
    """Each LA's eligibility rate, scaled so the run's weighted mean is the national target."""
    raw = np.array([la.fsm_rate for la in las])
    return np.clip(raw * RATES["fsm_on_census_day"] / float(raw @ weights), 0.02, 0.8)


def propensity(disadvantage: np.ndarray, la_idx: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Stationary eligibility probability per person, calibrated per LA by bisection."""
    out = np.zeros(len(disadvantage))
    for i, target in enumerate(targets):  # per LA, each step vectorised over its people
        rows = la_idx == i
        d = disadvantage[rows].astype(np.float64)
        if d.size == 0:
            continue
        lo, hi = -12.0, 12.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if (1 / (1 + np.exp(-(mid + 1.3 * d)))).mean() < target:
                lo = mid
            else:
                hi = mid
        out[rows] = 1 / (1 + np.exp(-(lo + 1.3 * d)))
    return np.minimum(out, 0.9)


def simulate_states(
    rng: np.random.Generator, pi: np.ndarray, first_period: np.ndarray, n_periods: int
) -> np.ndarray:
    """Eligible on each census day: (periods, persons) bool, False before a person arrives."""
    exit_p = RATES["fsm_exit_per_term"]
    entry_p = pi * exit_p / (1 - pi)
    state = np.zeros((n_periods, len(pi)), dtype=bool)
    for t in range(n_periods):
        u = rng.random(len(pi))
        fresh = first_period == t
        if t > 0:
            state[t] = np.where(state[t - 1], u >= exit_p, u < entry_p) & (first_period < t)
        state[t, fresh] = u[fresh] < pi[fresh]
    return state


def periods_from_states(
    rng: np.random.Generator,
    state: np.ndarray,
    census_day: np.ndarray,
    first_period: np.ndarray,
    earliest: np.ndarray,
) -> FsmPeriods:
    """Turn runs of eligibility into dated periods: starts and ends fall between censuses.

    earliest: per person, the first day a period may start (their first day of school).
    """
    n_periods, n = state.shape
    padded = np.vstack([np.zeros((1, n), bool), state, np.zeros((1, n), bool)])
    starts_t, starts_p = np.nonzero(padded[1:-1] & ~padded[:-2])  # eligible at t, not at t-1
    ends_t, ends_p = np.nonzero(padded[1:-1] & ~padded[2:])  # eligible at t, not at t+1
    # Order both by person then period: the k-th start of a person pairs with its k-th end.
    s_order = np.lexsort((starts_t, starts_p))
    e_order = np.lexsort((ends_t, ends_p))
    starts_t, starts_p = starts_t[s_order], starts_p[s_order]
    ends_t = ends_t[e_order]
    # Start dates: before the first census a pupil is seen eligible, or between censuses.
    first_seen = starts_t == first_period[starts_p]
    back = rng.integers(10, 700, size=len(starts_t))
    between_lo = np.where(
        starts_t > 0, census_day[np.maximum(starts_t - 1, 0)] + 1, census_day[0] - 120
    )
    between = between_lo + (rng.random(len(starts_t)) * (census_day[starts_t] - between_lo)).astype(
        np.int64
    )
    start = np.where(first_seen, census_day[starts_t] - back, between)
    start = np.maximum(start, earliest[starts_p])
    # End dates: after the last eligible census, before the next one (-1 if still eligible).
    last = n_periods - 1
    closed = ends_t < last
    nxt = np.minimum(ends_t + 1, last)
    gap = np.maximum(census_day[nxt] - census_day[ends_t] - 1, 1)
    end = np.where(
        closed, census_day[ends_t] + 1 + (rng.random(len(ends_t)) * gap).astype(np.int64), -1
    )
    end = np.where(closed, np.maximum(end, start + 1), -1)
    return FsmPeriods(
        person=starts_p.astype(np.int64), start=start.astype(np.int32), end=end.astype(np.int32)
    )
