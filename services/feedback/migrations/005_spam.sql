-- Doubtful submissions are stored as held, with the reasons (spam.HoldReason codes), and
-- wait for a moderator like pending ones.
ALTER TABLE feedback DROP CONSTRAINT feedback_status_check;
ALTER TABLE feedback ADD CONSTRAINT feedback_status_check
    CHECK (status IN ('pending', 'held', 'approved', 'rejected', 'withdrawn'));
ALTER TABLE feedback ADD COLUMN hold_reasons text[] NOT NULL DEFAULT '{}';

-- What each visitor sent in the last 24 hours, to recognise the same text sent again by the
-- same visitor (spam.repeat_rule) and to count submissions per minute. visitor_key is the
-- daily cap's keyed hash (limits.Quota), never an address; target is 'site' or
-- 'article:<id>'; fingerprint is spam.fingerprint of the text. Rows older than a day are
-- deleted by later submissions, so no visitor's key outlives it for long.
CREATE TABLE recent_submissions (
    visitor_key text NOT NULL,
    target text NOT NULL,
    fingerprint text NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recent_submissions_by_visitor ON recent_submissions (visitor_key, submitted_at);
CREATE INDEX recent_submissions_by_age ON recent_submissions (submitted_at);

-- Every refusal and every hold of a submission, counted by day (Asia/Ho_Chi_Minh), outcome,
-- reason code and target kind: no address, no visitor key, no text.
CREATE TABLE spam_counts (
    day date NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('refused', 'held')),
    reason text NOT NULL,
    target text NOT NULL CHECK (target IN ('article', 'site')),
    count integer NOT NULL CHECK (count > 0),
    PRIMARY KEY (day, outcome, reason, target)
);

-- The old duplicate check looked the text up across all senders; it is judged per visitor
-- now (recent_submissions), so the column is no longer needed to recognise it.
DROP INDEX feedback_recent_text;
