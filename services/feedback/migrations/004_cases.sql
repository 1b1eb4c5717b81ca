-- Feedback as a tracked case (issue 9, cases part).
ALTER TABLE feedback
    -- Optional contact phone and title of the reader's message. The phone, like the
    -- e-mail, is private: it never leaves this service (not in events, not on pages).
    ADD COLUMN phone text,
    ADD COLUMN title text,
    -- SHA-256 of the receipt code (services/feedback/receipts.py): the code itself is
    -- never stored, and a lookup compares hashes through this unique index.
    ADD COLUMN receipt_hash text,
    -- SHA-256 of the submission's idempotency key (the form's hidden token, or the API's
    -- Idempotency-Key header), so a retried or double-clicked submission finds its case.
    ADD COLUMN idempotency_hash text,
    -- For the API's key: SHA-256 of the request, so the same key with another body is told.
    ADD COLUMN request_hash text,
    -- The moderator who wrote the official reply: private (the reply is signed in public
    -- with the organisation's name, FEEDBACK_ORGANISATION_NAME).
    ADD COLUMN replied_by text,
    -- A site suggestion a moderator chose to show on /hoi-dap once answered.
    ADD COLUMN public_qa boolean NOT NULL DEFAULT false,
    -- When the e-mail and phone were deleted after the retention period.
    ADD COLUMN contact_erased_at timestamptz;

CREATE UNIQUE INDEX feedback_by_receipt ON feedback (receipt_hash) WHERE receipt_hash IS NOT NULL;
CREATE UNIQUE INDEX feedback_by_idempotency ON feedback (idempotency_hash)
    WHERE idempotency_hash IS NOT NULL;
-- The retention job: closed cases that still hold a contact.
CREATE INDEX feedback_contact_to_erase ON feedback (id)
    WHERE email IS NOT NULL OR phone IS NOT NULL;
-- /hoi-dap: public questions and answers, newest first.
CREATE INDEX feedback_public_qa ON feedback (replied_at DESC, id DESC) WHERE public_qa;
