-- Fair counts: how many distinct view keys (agents) each address key (HMAC of address,
-- article and 30-minute bucket, never the address) has had counted. At most
-- COUNTER_AGENTS_PER_ADDRESS of them count; the others are kept as seen (view_keys) but
-- add nothing. Deleted with the keys after two days.
CREATE TABLE address_agents (
    key bytea PRIMARY KEY,
    day date NOT NULL,
    agents integer NOT NULL CHECK (agents >= 0)
);
CREATE INDEX address_agents_day ON address_agents (day);

-- Most read by period: views.counted carries each article's sums over 7 and 30 days ending
-- on its day. When a day begins, the articles viewed in the 30 days before are marked
-- changed once, so their sums are published again without the day that left the window.
-- One row per day makes sure only one instance does it.
CREATE TABLE window_refreshes (
    day date PRIMARY KEY,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
