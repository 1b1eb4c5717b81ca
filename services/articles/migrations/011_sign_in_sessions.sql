-- Sign-in sessions of the desk: the browser holds a random secret in an HttpOnly cookie,
-- only its SHA-256 is kept here. A session renews the short access tokens while it lives:
-- until it was last used longer ago than the idle limit, or began longer ago than the
-- absolute limit (both settings, checked on use), or was ended (signing out, a password
-- changed or reset, the account disabled).
CREATE TABLE sign_in_sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);

CREATE INDEX sign_in_sessions_user ON sign_in_sessions (user_id) WHERE ended_at IS NULL;

-- Set for the first admin and whenever an admin sets someone's password: until its owner
-- chooses a new one, the account gets no access token and no session.
ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
