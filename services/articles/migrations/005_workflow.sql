-- The editorial workflow: seven states, scheduling, the trash, every transition recorded,
-- revisions of the text, unique slugs (old ones kept to redirect), author and unit apart.

ALTER TABLE articles DROP CONSTRAINT articles_status_check;
ALTER TABLE articles DROP CONSTRAINT articles_check;
ALTER TABLE articles
    ADD CONSTRAINT articles_status_check CHECK (
        status IN ('draft', 'pending', 'scheduled', 'published', 'unpublished', 'expired',
                   'deleted')),
    -- What a reader sees under the article is "author_name (unit)": byline follows them.
    ADD COLUMN author_name text NOT NULL DEFAULT '',
    ADD COLUMN unit text NOT NULL DEFAULT '',
    ADD COLUMN source text NOT NULL DEFAULT '',
    -- "Cập nhật vào ngày": the last change of the text, not of the state or the tags.
    ADD COLUMN text_updated_at timestamptz,
    -- When a scheduled article publishes itself, and when a published one expires.
    ADD COLUMN publish_at timestamptz,
    ADD COLUMN end_at timestamptz CHECK (end_at IS NULL OR publish_at IS NULL
                                         OR end_at > publish_at),
    -- The editor's reason for sending a pending article back, until it is submitted again.
    ADD COLUMN return_reason text,
    -- In the trash: since when, and the state to restore.
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN deleted_from text,
    ADD CONSTRAINT articles_published_has_time CHECK (
        status NOT IN ('published', 'expired') OR published_at IS NOT NULL),
    ADD CONSTRAINT articles_scheduled_has_time CHECK (
        status <> 'scheduled' OR publish_at IS NOT NULL),
    ADD CONSTRAINT articles_deleted_has_time CHECK (
        status <> 'deleted' OR (deleted_at IS NOT NULL AND deleted_from IS NOT NULL));

-- Existing articles keep what the page showed: the byline as the author's name.
UPDATE articles SET author_name = byline, text_updated_at = updated_at;
ALTER TABLE articles ALTER COLUMN text_updated_at SET NOT NULL,
                     ALTER COLUMN text_updated_at SET DEFAULT now();

-- The scheduler's claims read only these few rows.
CREATE INDEX articles_due ON articles (publish_at) WHERE status = 'scheduled';
CREATE INDEX articles_ending ON articles (end_at)
    WHERE status = 'published' AND end_at IS NOT NULL;
CREATE INDEX articles_trash ON articles (deleted_at) WHERE status = 'deleted';

-- Slugs become unique: an older clash keeps its first holder, the others get their id.
CREATE TABLE article_old_slugs (
    slug text PRIMARY KEY,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
WITH clashing AS (
    SELECT id, slug FROM (
        SELECT id, slug, row_number() OVER (PARTITION BY slug ORDER BY id) AS n FROM articles
    ) ranked WHERE n > 1
)
UPDATE articles a SET slug = rtrim(left(c.slug, 60), '-') || '-' || a.id FROM clashing c WHERE c.id = a.id;
CREATE UNIQUE INDEX articles_slug_unique ON articles (slug);

CREATE TABLE article_transitions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    from_status text NOT NULL,
    to_status text NOT NULL,
    action text NOT NULL,
    -- NULL: the scheduler did it.
    user_id bigint REFERENCES users (id),
    at timestamptz NOT NULL DEFAULT now(),
    reason text
);
CREATE INDEX article_transitions_by_article ON article_transitions (article_id, id);

CREATE TABLE article_revisions (
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    number integer NOT NULL CHECK (number >= 1),
    title text NOT NULL,
    summary text NOT NULL,
    body_html text NOT NULL,
    author_name text NOT NULL,
    unit text NOT NULL,
    source text NOT NULL,
    user_id bigint REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (article_id, number)
);
-- Every existing article starts its history with its current text.
INSERT INTO article_revisions (article_id, number, title, summary, body_html, author_name,
                               unit, source, user_id, created_at)
SELECT id, 1, title, summary, body_html, author_name, unit, source, author_id, updated_at
  FROM articles;
