#!/usr/bin/env bash
# Creates Comanda's database and its owner role, which the service logs in as
# (not the superuser). The postgres image runs this once, on the first start
# with an empty data volume (/docker-entrypoint-initdb.d); later password
# changes are made with ALTER ROLE, not here.
#
# Environment (set in compose.yaml): POSTGRES_USER (the image's superuser),
# COMANDA_DB_NAME, COMANDA_DB_USER, COMANDA_DB_PASSWORD.
#
# The image may source this file instead of running it: no `set -u`/`exit`.
: "${COMANDA_DB_NAME:?COMANDA_DB_NAME is required}"
: "${COMANDA_DB_USER:?COMANDA_DB_USER is required}"
: "${COMANDA_DB_PASSWORD:?COMANDA_DB_PASSWORD is required}"

# psql variables (:"name" quotes an identifier, :'name' a literal), so no
# value is ever spliced into SQL text.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v db="$COMANDA_DB_NAME" -v owner="$COMANDA_DB_USER" -v password="$COMANDA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"owner";
SQL
