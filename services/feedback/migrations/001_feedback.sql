-- Read model of articles, fed by article.published / updated / unpublished: which
-- articles may receive feedback, and the title and link the form shows.
CREATE TABLE articles (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    url text NOT NULL,
    published boolean NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Feedback on an article (article_id set) or on the site as a whole (article_id null).
-- email is private: it never leaves this service except to moderators. A withdrawn item
-- keeps its row (id, version, dates) but its personal fields are blanked.
CREATE TABLE feedback (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id bigint,
    target text NOT NULL CHECK (target IN ('article', 'site')),
    author_name text NOT NULL,
    email text,
    body text NOT NULL,
    -- The normalised text's hash, to recognise the same text sent again (spam.fingerprint).
    fingerprint text,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    version integer NOT NULL DEFAULT 1,
    reply_body text,
    reply_author text,
    replied_at timestamptz,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    approved_at timestamptz,
    rejected_at timestamptz,
    withdrawn_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((target = 'site') = (article_id IS NULL))
);

-- The moderation list: by status, newest first, paged by id.
CREATE INDEX feedback_by_status ON feedback (status, id DESC);
-- The duplicate check: the same text within the last day.
CREATE INDEX feedback_recent_text ON feedback (fingerprint, submitted_at)
    WHERE fingerprint IS NOT NULL;
