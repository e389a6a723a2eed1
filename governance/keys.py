"""The pseudonymisation key: from the environment, an Airflow connection, or a local dev key.

The key never lives in the repository. Production sets NPD_PSEUDONYM_KEY (hex) or
defines the Airflow connection `npd_pseudonym_key` (key in its password field).
The demo creates a random development key under var/secrets/ and says so.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from core.config import Settings

log = logging.getLogger(__name__)

ENV_VAR = "NPD_PSEUDONYM_KEY"
AIRFLOW_CONN_ID = "npd_pseudonym_key"
MIN_BYTES = 32


class KeyMissingError(RuntimeError):
    pass


def key_file(settings: Settings) -> Path:
    return settings.secrets_dir / "pseudonym.key"


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyMissingError(f"{where} is not hexadecimal") from None
    if len(key) < MIN_BYTES:
        raise KeyMissingError(f"{where} is {len(key)} bytes; it must be at least {MIN_BYTES}")
    return key


def _from_airflow() -> str | None:
    """The key from an Airflow connection, only when running inside Airflow."""
    if not (
        os.environ.get("AIRFLOW_CTX_DAG_ID")
        or os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}")
    ):
        return None
    try:
        from airflow.sdk import Connection

        return Connection.get(AIRFLOW_CONN_ID).password
    except Exception:  # connection not defined: fall through to the other sources
        return None


def load_key(settings: Settings) -> bytes:
    """The key, or a KeyMissingError saying how to provide one."""
    if os.environ.get(ENV_VAR):
        return _parse(os.environ[ENV_VAR], ENV_VAR)
    from_airflow = _from_airflow()
    if from_airflow:
        return _parse(from_airflow, f"Airflow connection {AIRFLOW_CONN_ID}")
    path = key_file(settings)
    if path.exists():
        log.info("using the local development pseudonymisation key under %s", path.parent)
        return _parse(path.read_text(encoding="utf-8"), str(path))
    raise KeyMissingError(
        f"no pseudonymisation key: set {ENV_VAR} (hex, {MIN_BYTES}+ bytes), define the Airflow "
        f"connection {AIRFLOW_CONN_ID}, or run `npd key init` to create a local development key"
    )


def create_dev_key(settings: Settings) -> tuple[Path, bool]:
    """Create the local development key if absent. Returns its path and whether it was created."""
    path = key_file(settings)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secrets.token_hex(MIN_BYTES), encoding="utf-8")
    return path, True
