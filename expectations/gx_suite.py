"""Turn a resolved SuiteSpec into a GX ExpectationSuite made of GX's own expectation classes."""

from __future__ import annotations

import great_expectations as gx
from great_expectations.expectations.registry import get_expectation_impl

from expectations.suite_spec import ExpectationSpec, SuiteSpec


def to_gx_expectation(spec: ExpectationSpec) -> gx.expectations.Expectation:
    """The GX expectation class named by spec.type; GX's severity mirrors meta.severity."""
    cls = get_expectation_impl(spec.type)
    return cls(**spec.kwargs, meta=dict(spec.meta), severity=spec.severity)


def to_gx_suite(spec: SuiteSpec) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=spec.name,
        expectations=[to_gx_expectation(e) for e in spec.expectations],
        meta={"notes": spec.description} if spec.description else None,
    )
