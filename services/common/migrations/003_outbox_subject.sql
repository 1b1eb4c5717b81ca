-- Finding an item's events by its subject (erasing a withdrawn feedback item's earlier
-- events) without reading the whole outbox.
CREATE INDEX outbox_subject ON outbox (subject, type);
