-- Events a consumer has handled, keyed by CloudEvents id: a redelivered event finds its
-- row and changes nothing.
CREATE TABLE handled_events (
    consumer text NOT NULL,
    event_id text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The highest data.version each consumer has applied per item (entity + subject): an older
-- version arriving late is ignored.
CREATE TABLE event_versions (
    consumer text NOT NULL,
    entity text NOT NULL,
    subject text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (consumer, entity, subject)
);
