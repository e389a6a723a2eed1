"""Pseudonymisation, minimisation, and (later) disclosure control, access and audit."""
