-- People who sign in to the admin: editors, authors, moderators and admins. Articles owns
-- them and is the only service that signs their access tokens (DESIGN rule 8).
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-case, and the pattern allows no capitals, so UNIQUE is case-insensitive.
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,40}$'),
    display_name text NOT NULL CHECK (char_length(btrim(display_name)) BETWEEN 1 AND 100),
    -- Argon2id, in the PHC string format argon2-cffi writes; never a plain password.
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    roles text[] NOT NULL CHECK (
        array_ndims(roles) = 1
        AND cardinality(roles) >= 1
        AND array_position(roles, NULL) IS NULL
        AND roles <@ ARRAY['admin', 'editor', 'author', 'moderator']::text[]
    ),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
