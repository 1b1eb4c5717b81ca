#!/bin/sh
# First start of compose's postgres (run from /docker-entrypoint-initdb.d, as the postgres
# user, on the image's socket-only set-up server): the service roles' passwords from the
# secret files the `secrets` job wrote, then init.sql, which reads them with \getenv.
# Written to work whether the image runs it or sources it (it sources a script that is not
# executable): no `exit`, no `set -u` (`set -e` the entrypoint has already), and the passwords only in psql's environment.
#
#   BANTIN_SECRETS_DIR  where the files are (default /run/bantin/secrets)
#   BANTIN_INIT_SQL     init.sql (default /bantin/init.sql)
#   BANTIN_DB_NAME      the database to create (default bantin)
set -e
bantin_secrets="${BANTIN_SECRETS_DIR:-/run/bantin/secrets}"
for bantin_role in articles feedback counter; do
  if [ ! -s "$bantin_secrets/$bantin_role-db-password" ]; then
    echo "init: no password in $bantin_secrets/$bantin_role-db-password" >&2
    false  # stops the set-up: a role without its password would be of no use
  fi
done
ARTICLES_DB_PASSWORD="$(cat "$bantin_secrets/articles-db-password")" \
FEEDBACK_DB_PASSWORD="$(cat "$bantin_secrets/feedback-db-password")" \
COUNTER_DB_PASSWORD="$(cat "$bantin_secrets/counter-db-password")" \
  psql -X -q -v ON_ERROR_STOP=1 -v dbname="${BANTIN_DB_NAME:-bantin}" \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -f "${BANTIN_INIT_SQL:-/bantin/init.sql}"
