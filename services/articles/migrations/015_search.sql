-- Public search (/tim-kiem): the articles' text folded as domain.fold folds it (no
-- diacritics, lower case, đ -> d, any Unicode form), written by the articles' actions on
-- every save; full-text vectors of it, the title weighted A and the rest B, and a GIN index
-- over the published articles only.
ALTER TABLE articles
    ADD COLUMN search_title text NOT NULL DEFAULT '',
    ADD COLUMN search_body text NOT NULL DEFAULT '';

-- The rows saved before this migration. f_unaccent (the unaccent dictionary) folds the
-- Vietnamese alphabet, đ and combining marks included, as domain.fold_words does, and the
-- words are split at anything but a letter or digit as it splits them
-- (tests/integration/test_articles_search.py compares the two).
UPDATE articles
   SET search_title = btrim(regexp_replace(lower(f_unaccent(title)), '[^[:alnum:]]+', ' ', 'g')),
       search_body = btrim(regexp_replace(
           lower(f_unaccent(summary || ' ' || byline || ' ' || body_text)),
           '[^[:alnum:]]+', ' ', 'g'));

-- 'simple': no stemming or stop words, so every folded word is a lexeme as it is.
ALTER TABLE articles
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, search_title), 'A')
        || setweight(to_tsvector('simple'::regconfig, search_body), 'B')
    ) STORED;

CREATE INDEX articles_search_vector ON articles USING gin (search_vector)
    WHERE status = 'published';

-- The title's words alone, stored so that ANALYZE keeps their frequencies (a word in a
-- fifth of the titles is read newest first, a rare one from the index): a query of only
-- short words (one or two letters) looks there, and titles that hold every word are always
-- candidates.
ALTER TABLE articles
    ADD COLUMN search_title_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, search_title)
    ) STORED;

CREATE INDEX articles_search_title ON articles USING gin (search_title_vector)
    WHERE status = 'published';
