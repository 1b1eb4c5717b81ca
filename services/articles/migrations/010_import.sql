-- Articles brought over from an earlier site (python -m services.articles.import_articles).

-- The views an imported article had there; NULL for an article written here. Article
-- events carry it, and the counter takes it once as the article's starting total.
ALTER TABLE articles ADD COLUMN imported_views bigint CHECK (imported_views >= 0);

-- What makes an import idempotent: each external id (the earlier site's id, "wp:123" for
-- a WordPress post) is imported once. The row outlives the article: an article deleted
-- for good is not brought back by the next run.
CREATE TABLE article_imports (
    external_id text PRIMARY KEY CHECK (char_length(external_id) BETWEEN 1 AND 200),
    article_id bigint REFERENCES articles (id) ON DELETE SET NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX article_imports_by_article ON article_imports (article_id);
