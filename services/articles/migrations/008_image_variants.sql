-- Images decoded at upload: the cleaned original's size, its variants, and an article's
-- alt text for its lead image.

-- Null for an image stored before uploads were decoded.
ALTER TABLE images ADD COLUMN width integer CHECK (width > 0),
                   ADD COLUMN height integer CHECK (height > 0);

-- Made once at upload (services/articles/images.py), served at /anh/{id}/{name}.{ext}.
CREATE TABLE image_variants (
    image_id bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name IN ('lead', 'list', 'share')),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0),
    data bytea NOT NULL,
    byte_size integer NOT NULL CHECK (byte_size > 0),
    sha256 text NOT NULL,
    PRIMARY KEY (image_id, name, content_type)
);
-- Compressed pictures do not compress again: store them without trying.
ALTER TABLE image_variants ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE images ALTER COLUMN data SET STORAGE EXTERNAL;

-- The lead image's alt text for this article (the caption when empty).
ALTER TABLE articles ADD COLUMN image_alt text NOT NULL DEFAULT '';
