-- What editors publish: categories, articles, their images, and the site's static pages.

CREATE TABLE categories (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    -- Order of the sections on the home page (then by name).
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Stored in Postgres, not on a disk of one instance, so every instance can serve them.
CREATE TABLE images (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content_type text NOT NULL
        CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif')),
    data bytea NOT NULL,
    byte_size integer NOT NULL CHECK (byte_size > 0),
    sha256 text NOT NULL,
    uploaded_by bigint REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- unaccent() is only STABLE (its dictionary could change), so it cannot back an index or
-- a generated column; this wrapper names the dictionary and is declared IMMUTABLE, the
-- usual way to index accent-free text.
CREATE FUNCTION f_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE TABLE articles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title text NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 300),
    summary text NOT NULL DEFAULT '',
    -- Sanitised (nh3) before it is stored: pages print it as it is.
    body_html text NOT NULL,
    -- The body's words without markup, for search.
    body_text text NOT NULL DEFAULT '',
    byline text NOT NULL DEFAULT '',
    category_id bigint NOT NULL REFERENCES categories (id),
    image_id bigint REFERENCES images (id),
    image_caption text NOT NULL DEFAULT '',
    author_id bigint NOT NULL REFERENCES users (id),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'unpublished')),
    -- Rises with every change; events carry it so consumers keep the newest.
    version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- First publication; kept when an article is unpublished and published again.
    published_at timestamptz,
    CHECK (status = 'draft' OR published_at IS NOT NULL),
    search_doc text GENERATED ALWAYS AS (
        lower(f_unaccent(title || ' ' || summary || ' ' || byline || ' ' || body_text))
    ) STORED
);

CREATE INDEX articles_public ON articles (published_at DESC, id DESC)
    WHERE status = 'published';
CREATE INDEX articles_public_by_category ON articles (category_id, published_at DESC, id DESC)
    WHERE status = 'published';
CREATE INDEX articles_by_author ON articles (author_id, updated_at DESC);
-- Accent-free substring search ("giao uoc thi dua" finds "giao ước thi đua").
CREATE INDEX articles_search ON articles USING gin (search_doc public.gin_trgm_ops);

-- "Giới thiệu" and other pages an admin edits; a page without a row shows its default.
CREATE TABLE static_pages (
    slug text PRIMARY KEY CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title text NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    body_html text NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
