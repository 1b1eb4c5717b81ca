-- Transactional outbox: an event is a row written in the same transaction as the change
-- it reports; the relay publishes it and sets sent_at only after the broker confirmed it.
CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    type text NOT NULL,
    subject text NOT NULL,
    envelope jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);

-- The relay's work list: unsent rows, oldest first.
CREATE INDEX outbox_unsent ON outbox (next_attempt_at, created_at) WHERE sent_at IS NULL;

-- NOTIFY is only a doorbell for the relay (it polls as well); the channel is named after
-- the schema so services sharing the database ring only their own relay.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
