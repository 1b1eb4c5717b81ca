-- A writer may ring its own process's relay instead of the NOTIFY doorbell: Postgres
-- serialises the commits of transactions that notified (a lock held through the commit and
-- its WAL flush), which held a busy write path (a reader's feedback submission) to a few
-- hundred commits a second. Such a writer sets `bantin.outbox_quiet` for its transaction
-- (set_config(..., true)) and wakes its relay after the commit; the other relays find the
-- row at their next poll, as they find any row whose NOTIFY they missed.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('bantin.outbox_quiet', true), '') <> 'on' THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
