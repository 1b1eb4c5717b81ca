-- A reader's submission in one round trip. Before, a submission was a transaction of six
-- round trips (BEGIN, charge, checks, insert, outbox, COMMIT); on this kind of machine the
-- socket writes under them were a third of the service's time (docs/performance.md). The
-- same steps, in the same order and with the same guarantees, now run in this function,
-- called as one statement (its own transaction):
--
-- 1. with an idempotency key: wait for any other submission with that key, and answer
--    the case it stored (replayed = true) if there is one; nothing else is done;
-- 2. charge the sender's daily count (the visitor's row stays locked until the end, so one
--    visitor's submissions take turns) and tidy up old counts and remembered texts;
-- 3. the checks, each a statement of its own: in a PL/pgSQL function under READ COMMITTED
--    every statement takes a new snapshot, so they see what the visitor's earlier
--    submissions committed while this one waited for the lock (one statement with the
--    charge could not: its snapshot is older than the lock);
-- 4. store the case, remember its text, count its holds, and write its event to the outbox.
--
-- The rules stay in Python: the caller passes the limits and the hold reasons it found in
-- the text, and the function refuses with an SQLSTATE of its own (class BF) that
-- services/feedback/store.py turns back into the domain's refusals. Where the visitor sent
-- the same text before, the function stops (BF004) with the targets it was sent to, unless
-- the caller already judged exactly those (spam.repeat_rule): then it holds or refuses it
-- and calls again. The event's envelope is built and checked against its JSON Schema by
-- services/common/events/outbox.py (prepare_event), like every other event; the case's id
-- is reserved beforehand so that the event can name it. The outbox row rings no NOTIFY
-- (common migration 004): the caller wakes its process's relay once the call returns.
CREATE FUNCTION submit_feedback(
    p_id bigint,
    p_submitted_at timestamptz,
    p_day date,
    p_quota_key text,
    p_daily_limit integer,
    p_per_minute integer,
    p_visitor_keys text[],
    p_text_window interval,
    p_article_id bigint,
    p_text_target text,
    p_fingerprint text,
    p_judged_targets text[],
    p_author_name text,
    p_email text,
    p_body text,
    p_phone text,
    p_title text,
    p_receipt_hash text,
    p_idempotency_hash text,
    p_request_hash text,
    p_hold_reasons text[],
    p_event_id uuid,
    p_event_type text,
    p_event_subject text,
    p_envelope jsonb
) RETURNS TABLE (
    replayed boolean,
    id bigint,
    article_id bigint,
    target text,
    status text,
    version integer,
    submitted_at timestamptz,
    request_hash text
) LANGUAGE plpgsql AS $$
-- The result's columns are named like the tables' (id, target, status, ...): in the
-- statements below such a name means the column.
#variable_conflict use_column
DECLARE
    v_target text := CASE WHEN p_article_id IS NULL THEN 'site' ELSE 'article' END;
    v_status text := CASE WHEN cardinality(p_hold_reasons) > 0 THEN 'held' ELSE 'pending' END;
    v_count integer;
    v_sent bigint;
    v_wait double precision;
    v_targets text[];
BEGIN
    IF p_idempotency_hash IS NOT NULL THEN
        -- Held until the transaction ends: a second click waits for the first to commit.
        PERFORM pg_advisory_xact_lock(hashtext('idempotency:' || p_idempotency_hash));
        RETURN QUERY
            SELECT true, f.id, f.article_id, f.target, f.status, f.version, f.submitted_at,
                   f.request_hash
              FROM feedback f WHERE f.idempotency_hash = p_idempotency_hash;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    -- SKIP LOCKED: two submissions tidying up at once neither wait for nor deadlock on
    -- each other; what one skips, the next one deletes.
    WITH old_counts AS (
            DELETE FROM submission_counts WHERE (day, address_key) IN (
                SELECT c.day, c.address_key FROM submission_counts c WHERE c.day < p_day
                   FOR UPDATE SKIP LOCKED)),
         old_texts AS (
            DELETE FROM recent_submissions WHERE ctid IN (
                SELECT r.ctid FROM recent_submissions r
                 WHERE r.submitted_at < now() - p_text_window
                 LIMIT 100 FOR UPDATE SKIP LOCKED))
    INSERT INTO submission_counts AS c (day, address_key, submissions)
    VALUES (p_day, p_quota_key, 1)
    ON CONFLICT (day, address_key) DO UPDATE SET submissions = c.submissions + 1
    RETURNING c.submissions INTO v_count;
    IF v_count > p_daily_limit THEN
        RAISE EXCEPTION 'daily limit reached' USING ERRCODE = 'BF001';
    END IF;

    SELECT count(*), EXTRACT(EPOCH FROM min(r.submitted_at) + interval '1 minute' - now())
      INTO v_sent, v_wait
      FROM recent_submissions r
     WHERE r.visitor_key = ANY(p_visitor_keys) AND r.submitted_at > now() - interval '1 minute';
    IF v_sent >= p_per_minute THEN
        RAISE EXCEPTION 'too many submissions' USING ERRCODE = 'BF002',
            DETAIL = coalesce(v_wait, 0)::text;
    END IF;

    IF p_article_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = p_article_id AND a.published) THEN
        RAISE EXCEPTION 'article unavailable' USING ERRCODE = 'BF003';
    END IF;

    SELECT coalesce(array_agg(DISTINCT r.target ORDER BY r.target), '{}')
      INTO v_targets
      FROM recent_submissions r
     WHERE r.visitor_key = ANY(p_visitor_keys) AND r.fingerprint = p_fingerprint
       AND r.submitted_at > now() - p_text_window;
    IF cardinality(v_targets) > 0 AND NOT (v_targets <@ coalesce(p_judged_targets, '{}')) THEN
        RAISE EXCEPTION 'the same text was sent before' USING ERRCODE = 'BF004',
            DETAIL = array_to_json(v_targets)::text;
    END IF;

    INSERT INTO recent_submissions (visitor_key, target, fingerprint)
    VALUES (p_quota_key, p_text_target, p_fingerprint);
    INSERT INTO feedback (id, article_id, target, author_name, email, body, fingerprint, phone,
                          title, receipt_hash, idempotency_hash, request_hash, status,
                          hold_reasons, submitted_at, updated_at)
    OVERRIDING SYSTEM VALUE
    VALUES (p_id, p_article_id, v_target, p_author_name, p_email, p_body, p_fingerprint, p_phone,
            p_title, p_receipt_hash, p_idempotency_hash, p_request_hash, v_status,
            p_hold_reasons, p_submitted_at, p_submitted_at);
    INSERT INTO spam_counts AS s (day, outcome, reason, target, count)
    SELECT p_day, 'held', reason, v_target, count(*) FROM unnest(p_hold_reasons) AS reason
     GROUP BY reason
    ON CONFLICT (day, outcome, reason, target) DO UPDATE SET count = s.count + 1;
    -- No NOTIFY for this one (common migration 004): the caller wakes its own relay after
    -- the commit, so submissions' commits need not take turns.
    PERFORM set_config('bantin.outbox_quiet', 'on', true);
    INSERT INTO outbox (id, type, subject, envelope)
    VALUES (p_event_id, p_event_type, p_event_subject, p_envelope);

    RETURN QUERY SELECT false, p_id, p_article_id, v_target, v_status, 1, p_submitted_at,
                        p_request_hash;
END;
$$;
