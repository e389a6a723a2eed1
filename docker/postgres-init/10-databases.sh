#!/bin/bash
# First start of the postgres service: one database and owner per store. Passwords come from
# the container's environment (set from the operator's environment by compose.yaml).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v npd_pw="$NPD_DB_PASSWORD" \
  -v identity_pw="$NPD_IDENTITY_DB_PASSWORD" <<'SQL'
CREATE USER airflow PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE USER npd PASSWORD :'npd_pw';
CREATE DATABASE npd OWNER npd;
CREATE USER npd_identity PASSWORD :'identity_pw';
CREATE DATABASE npd_identity OWNER npd_identity;
SQL
