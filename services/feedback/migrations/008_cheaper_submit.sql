-- submit_feedback (migration 007) made cheaper where Postgres's own profile showed its time
-- going (docs/performance.md, "Feedback submissions", third round), with the same steps,
-- order, refusals and guarantees:
--
-- * The tidy-up of past days' counts and of old remembered texts read the whole of each
--   table: EXPLAIN showed sequential scans of both (a LIMIT over a condition that matches
--   nothing reads every row), and the counts deleted through a hash join over the table.
--   At 64 connections that statement was a third of the function's time, growing with the
--   tables (a day of submissions). Both now walk their index from its oldest end (ORDER BY
--   the indexed column, LIMIT 100) and delete by ctid: a few index pages a call, whatever
--   the tables hold.
-- * The per-minute count and the same-text lookup read the same rows (the visitor's, by
--   recent_submissions_by_visitor): one statement reads them once. It runs after the
--   charge, as both did, so it sees what the visitor's earlier submissions committed;
--   the refusals are raised in the same order as before (per minute, article, same text).
-- * The case's row no longer stores the text's fingerprint: nothing has read
--   feedback.fingerprint since migration 005 (the same-text rule reads
--   recent_submissions). The column stays until no instance of the older code (which
--   blanks it on withdrawal) runs.
-- * The hold counts are written only when the submission is held.
CREATE OR REPLACE FUNCTION submit_feedback(
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
    -- each other; what one skips, the next one deletes. ORDER BY the indexed column makes
    -- each an index scan from the oldest end (not a scan of the table), 100 rows at most.
    WITH old_counts AS (
            DELETE FROM submission_counts WHERE ctid IN (
                SELECT c.ctid FROM submission_counts c WHERE c.day < p_day
                 ORDER BY c.day LIMIT 100 FOR UPDATE SKIP LOCKED)),
         old_texts AS (
            DELETE FROM recent_submissions WHERE ctid IN (
                SELECT r.ctid FROM recent_submissions r
                 WHERE r.submitted_at < now() - p_text_window
                 ORDER BY r.submitted_at LIMIT 100 FOR UPDATE SKIP LOCKED))
    INSERT INTO submission_counts AS c (day, address_key, submissions)
    VALUES (p_day, p_quota_key, 1)
    ON CONFLICT (day, address_key) DO UPDATE SET submissions = c.submissions + 1
    RETURNING c.submissions INTO v_count;
    IF v_count > p_daily_limit THEN
        RAISE EXCEPTION 'daily limit reached' USING ERRCODE = 'BF001';
    END IF;

    -- The visitor's recent submissions, read once for both rules: how many in the last
    -- minute (and when the oldest of them leaves it), and where the same text went within
    -- the window.
    SELECT count(*) FILTER (WHERE r.submitted_at > now() - interval '1 minute'),
           EXTRACT(EPOCH FROM min(r.submitted_at)
                                  FILTER (WHERE r.submitted_at > now() - interval '1 minute')
                              + interval '1 minute' - now()),
           coalesce(array_agg(DISTINCT r.target ORDER BY r.target)
                        FILTER (WHERE r.fingerprint = p_fingerprint
                                  AND r.submitted_at > now() - p_text_window), '{}')
      INTO v_sent, v_wait, v_targets
      FROM recent_submissions r
     WHERE r.visitor_key = ANY(p_visitor_keys)
       AND r.submitted_at > now() - greatest(p_text_window, interval '1 minute');
    IF v_sent >= p_per_minute THEN
        RAISE EXCEPTION 'too many submissions' USING ERRCODE = 'BF002',
            DETAIL = coalesce(v_wait, 0)::text;
    END IF;

    IF p_article_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = p_article_id AND a.published) THEN
        RAISE EXCEPTION 'article unavailable' USING ERRCODE = 'BF003';
    END IF;

    IF cardinality(v_targets) > 0 AND NOT (v_targets <@ coalesce(p_judged_targets, '{}')) THEN
        RAISE EXCEPTION 'the same text was sent before' USING ERRCODE = 'BF004',
            DETAIL = array_to_json(v_targets)::text;
    END IF;

    INSERT INTO recent_submissions (visitor_key, target, fingerprint)
    VALUES (p_quota_key, p_text_target, p_fingerprint);
    INSERT INTO feedback (id, article_id, target, author_name, email, body, phone, title,
                          receipt_hash, idempotency_hash, request_hash, status, hold_reasons,
                          submitted_at, updated_at)
    OVERRIDING SYSTEM VALUE
    VALUES (p_id, p_article_id, v_target, p_author_name, p_email, p_body, p_phone, p_title,
            p_receipt_hash, p_idempotency_hash, p_request_hash, v_status, p_hold_reasons,
            p_submitted_at, p_submitted_at);
    IF v_status = 'held' THEN
        INSERT INTO spam_counts AS s (day, outcome, reason, target, count)
        SELECT p_day, 'held', reason, v_target, count(*) FROM unnest(p_hold_reasons) AS reason
         GROUP BY reason
        ON CONFLICT (day, outcome, reason, target) DO UPDATE SET count = s.count + 1;
    END IF;
    -- No NOTIFY for this one (common migration 004): the caller wakes its own relay after
    -- the commit, so submissions' commits need not take turns.
    PERFORM set_config('bantin.outbox_quiet', 'on', true);
    INSERT INTO outbox (id, type, subject, envelope)
    VALUES (p_event_id, p_event_type, p_event_subject, p_envelope);

    RETURN QUERY SELECT false, p_id, p_article_id, v_target, v_status, 1, p_submitted_at,
                        p_request_hash;
END;
$$;
