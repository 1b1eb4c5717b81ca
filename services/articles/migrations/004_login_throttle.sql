-- Failed logins, counted per username and per client address, so that guessing
-- passwords slows down. Keys are HMACs: neither the address nor the typed name (which is
-- sometimes a password typed in the wrong field) is stored.
CREATE TABLE login_throttle (
    key text PRIMARY KEY,
    failures integer NOT NULL CHECK (failures >= 0),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz
);

CREATE INDEX login_throttle_last_failed ON login_throttle (last_failed_at);
