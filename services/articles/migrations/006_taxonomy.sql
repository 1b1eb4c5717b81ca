-- Categories nested one level, tags and topics ("dòng sự kiện") besides the one category,
-- and pins of an article to the top of the home page or of its category.

-- A child's parent; a parent is never itself a child (checked by the service, which
-- serialises category changes).
ALTER TABLE categories ADD COLUMN parent_id bigint REFERENCES categories (id);
CREATE INDEX categories_by_parent ON categories (parent_id) WHERE parent_id IS NOT NULL;
-- Deleting a category is refused while an article of any state uses it (the foreign key
-- of articles.category_id); this index finds one quickly.
CREATE INDEX articles_by_category ON articles (category_id);

CREATE TABLE tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE article_tags (
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, tag_id)
);
CREATE INDEX article_tags_by_tag ON article_tags (tag_id, article_id);

-- A running story that groups articles over months.
CREATE TABLE topics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE articles
    ADD COLUMN topic_id bigint REFERENCES topics (id) ON DELETE SET NULL,
    -- Pinned until these times; a pin in the past is no pin (compared with now() when read).
    ADD COLUMN featured_home_until timestamptz,
    ADD COLUMN featured_category_until timestamptz;
CREATE INDEX articles_by_topic ON articles (topic_id, published_at DESC, id DESC)
    WHERE status = 'published' AND topic_id IS NOT NULL;
CREATE INDEX articles_featured_home ON articles (featured_home_until)
    WHERE featured_home_until IS NOT NULL;
