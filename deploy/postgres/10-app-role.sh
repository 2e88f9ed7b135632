#!/bin/sh
# First start of the postgres container only (docker-entrypoint-initdb.d): create the application role that web,
# workers and beat connect as. POSTGRES_USER (clearcue_owner) owns the database and runs the migrations; the
# `migrate` service then applies deploy/grants.sql, which gives this role its privileges table by table.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$(cat "$CLEARCUE_APP_PASSWORD_FILE")" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE clearcue_app LOGIN PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO clearcue_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
