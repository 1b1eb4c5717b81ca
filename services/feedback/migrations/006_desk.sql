-- The moderation desk (issue 9).
-- reject_reason: the public reason a rejected item was not published; the reader sees it
-- on the status page. It is no part of feedback.rejected (the event stays as it was).
-- original_author_name / original_body: the reader's own words, kept at a moderator's
-- first edit (NULL while the item was never edited); blanked with the rest on withdrawal.
ALTER TABLE feedback
    ADD COLUMN reject_reason text,
    ADD COLUMN original_author_name text,
    ADD COLUMN original_body text,
    ADD COLUMN edited_at timestamptz;

-- Who did what to an item and when, shown to moderators on the case's page. It names the
-- moderator, never the reader; `reason` is the public reject reason.
CREATE TABLE moderation_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feedback_id bigint NOT NULL REFERENCES feedback (id),
    action text NOT NULL,
    moderator_id bigint NOT NULL,
    moderator_name text NOT NULL,
    reason text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_history_by_item ON moderation_history (feedback_id, id);

-- The export: a period of submission dates. (The queue, oldest first, reads
-- feedback_by_status backwards.)
CREATE INDEX feedback_by_submitted ON feedback (submitted_at);
