-- Withdrawing an item deletes its earlier events from the outbox (the outbox keeps sent
-- rows): find them by subject without reading the whole table.
CREATE INDEX outbox_by_subject ON outbox (subject);
