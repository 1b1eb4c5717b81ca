-- Submissions per client address per calendar day (Asia/Ho_Chi_Minh), for the daily cap.
-- address_key is an HMAC-SHA256 of the day and the address under FEEDBACK_FORM_SECRET
-- (services/feedback/limits.py): the address itself is never stored. Rows of past days
-- are deleted by the next submission.
CREATE TABLE submission_counts (
    day date NOT NULL,
    address_key text NOT NULL,
    submissions integer NOT NULL CHECK (submissions > 0),
    PRIMARY KEY (day, address_key)
);
