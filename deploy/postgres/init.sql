-- Bantin database set-up: one UTF8 database, one schema and one login role per service,
-- and the extensions the services use. Run by psql as a superuser: the official postgres
-- image runs it from /docker-entrypoint-initdb.d, the local runner and the tests run
-- `psql -v ON_ERROR_STOP=1 -f deploy/postgres/init.sql`. Safe to run again.
--
-- psql variables (all optional):
--   dbname                    database to create (default bantin)
-- environment (read with \getenv; a role without a password can log in only where
-- pg_hba trusts it, as on a developer machine):
--   ARTICLES_DB_PASSWORD, FEEDBACK_DB_PASSWORD, COUNTER_DB_PASSWORD

\set ON_ERROR_STOP on

\if :{?dbname}
\else
  \set dbname bantin
\endif

\getenv articles_password ARTICLES_DB_PASSWORD
\getenv feedback_password FEEDBACK_DB_PASSWORD
\getenv counter_password COUNTER_DB_PASSWORD

-- Roles are cluster-wide: create each one once, then (re)set its password if given.
SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['articles', 'feedback', 'counter']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

\if :{?articles_password}
  ALTER ROLE articles PASSWORD :'articles_password';
\endif
\if :{?feedback_password}
  ALTER ROLE feedback PASSWORD :'feedback_password';
\endif
\if :{?counter_password}
  ALTER ROLE counter PASSWORD :'counter_password';
\endif

-- template0 so the encoding and collation are ours, whatever template1 holds.
SELECT format('CREATE DATABASE %I ENCODING %L LC_COLLATE %L LC_CTYPE %L TEMPLATE template0',
              :'dbname', 'UTF8', 'C.UTF-8', 'C.UTF-8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname')
\gexec

\connect :dbname

-- Only the service roles may connect, and nobody may create objects in public.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO articles, feedback, counter;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO PUBLIC;

-- Extensions live in public so every service can call them; only a superuser installs them.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

-- One schema per service, owned by its role: the owner has every right on it, the other
-- roles none (a schema's privileges are not granted to PUBLIC), so the counter role is
-- refused on articles.* and so on.
CREATE SCHEMA IF NOT EXISTS articles AUTHORIZATION articles;
CREATE SCHEMA IF NOT EXISTS feedback AUTHORIZATION feedback;
CREATE SCHEMA IF NOT EXISTS counter AUTHORIZATION counter;
REVOKE ALL ON SCHEMA articles, feedback, counter FROM PUBLIC;

ALTER ROLE articles IN DATABASE :"dbname" SET search_path = articles, public;
ALTER ROLE feedback IN DATABASE :"dbname" SET search_path = feedback, public;
ALTER ROLE counter IN DATABASE :"dbname" SET search_path = counter, public;
-- Dates on pages are calendar days in Vietnam; timestamps are stored as timestamptz.
ALTER DATABASE :"dbname" SET timezone = 'Asia/Ho_Chi_Minh';
