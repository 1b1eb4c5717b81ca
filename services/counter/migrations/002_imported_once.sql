-- An imported starting total arrives with the article's events (imported_views) and is
-- taken once: the first event that carries a count for the article sets it, and marks it
-- set, so a redelivery, a later article.updated or a re-import never resets a total that
-- has grown. An admin's correction (PUT .../imported) sets it too, and marks it as well.
ALTER TABLE article_totals ADD COLUMN imported_set boolean NOT NULL DEFAULT false;
-- A starting total an admin set before this migration counts as set.
UPDATE article_totals SET imported_set = true WHERE imported > 0;
