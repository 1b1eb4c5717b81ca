-- Static pages are managed like articles: a draft or published (or in the trash for 30 days,
-- restorable), who changed them last, and a revision for every save of their text.

ALTER TABLE static_pages
    -- Every page written before states existed was published by the PUT that wrote it.
    ADD COLUMN status text NOT NULL DEFAULT 'published'
        CHECK (status IN ('draft', 'published', 'deleted')),
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by bigint REFERENCES users (id),
    -- When it went to the trash; it is purged 30 days later.
    ADD COLUMN deleted_at timestamptz,
    ADD CONSTRAINT static_pages_deleted_at CHECK ((status = 'deleted') = (deleted_at IS NOT NULL)),
    ADD CONSTRAINT static_pages_version CHECK (version >= 1);

-- A page created from now on starts as a draft (the code always names the state; this is
-- only the safe default).
ALTER TABLE static_pages ALTER COLUMN status SET DEFAULT 'draft';

CREATE TABLE static_page_revisions (
    slug text NOT NULL REFERENCES static_pages (slug) ON DELETE CASCADE,
    -- 1, 2, 3... per page, in the order the saves happened.
    number integer NOT NULL CHECK (number >= 1),
    title text NOT NULL,
    body_html text NOT NULL,
    saved_by bigint REFERENCES users (id),
    saved_at timestamptz NOT NULL DEFAULT now(),
    -- The revision this save brought back, when it was a restore.
    restored_from integer,
    PRIMARY KEY (slug, number)
);

-- The text each existing page has now is its first revision (who wrote it is not known).
INSERT INTO static_page_revisions (slug, number, title, body_html, saved_at)
SELECT slug, 1, title, body_html, updated_at FROM static_pages;
