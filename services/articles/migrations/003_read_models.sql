-- Read models fed by other services' events (DESIGN rule 1): pages read only these, so
-- they render with the last known counts and feedback while counter or feedback are down.

-- From views.counted (counter).
CREATE TABLE article_views (
    article_id bigint PRIMARY KEY,
    total bigint NOT NULL CHECK (total >= 0),
    today bigint NOT NULL CHECK (today >= 0),
    day date NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX article_views_most_read ON article_views (total DESC);

-- From feedback.approved / feedback.updated (public fields only); feedback.withdrawn
-- deletes the row, which is how a reader's name is erased here.
CREATE TABLE public_feedback (
    id bigint PRIMARY KEY,
    -- NULL: feedback on the site rather than on an article.
    article_id bigint,
    author_name text NOT NULL,
    body text NOT NULL,
    reply_body text,
    reply_author text,
    replied_at timestamptz,
    approved_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL
);

CREATE INDEX public_feedback_by_article ON public_feedback (article_id, approved_at);
