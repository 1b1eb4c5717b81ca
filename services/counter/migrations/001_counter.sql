-- The counter's read model of articles: which articles may receive views. Fed by
-- article.published / article.updated (countable) and article.unpublished (not countable).
CREATE TABLE articles (
    id bigint PRIMARY KEY,
    countable boolean NOT NULL,
    version bigint NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Every ingest instance keeps the countable ids in memory; this doorbell tells them at once
-- (after commit) that one changed, with the new state, so a freshly published article is
-- countable within a moment whichever instance consumed its event. The channel is named
-- after the schema, like the outbox's, so two deployments in one database do not mix.
CREATE FUNCTION articles_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_articles', OLD.id || ':0');
    ELSE
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_articles',
                          NEW.id || ':' || CASE WHEN NEW.countable THEN '1' ELSE '0' END);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER articles_notify AFTER INSERT OR UPDATE OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_notify();

-- One random salt per calendar day (Asia/Ho_Chi_Minh), shared by every ingest instance:
-- view keys are HMACs under it, so once it is deleted (after two days) nobody can tell
-- which reader a key stood for.
CREATE TABLE daily_salts (
    day date PRIMARY KEY,
    salt bytea NOT NULL CHECK (length(salt) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- View keys already counted (32-byte HMAC-SHA256). A key is one reader, one article, one
-- 30-minute bucket: inserting it with ON CONFLICT DO NOTHING is what makes a repeated or
-- redelivered view count once. Kept two days.
CREATE TABLE view_keys (
    key bytea PRIMARY KEY,
    article_id bigint NOT NULL,
    day date NOT NULL
);
CREATE INDEX view_keys_day ON view_keys (day);

-- Per-article totals. `counted` is what this service counted, `imported` a starting total
-- carried over from an earlier system. `changed` marks totals not yet published as
-- views.counted; `version` rises with every views.counted of the article.
CREATE TABLE article_totals (
    article_id bigint PRIMARY KEY,
    counted bigint NOT NULL DEFAULT 0 CHECK (counted >= 0),
    imported bigint NOT NULL DEFAULT 0 CHECK (imported >= 0),
    version bigint NOT NULL DEFAULT 0,
    changed boolean NOT NULL DEFAULT false
);
CREATE INDEX article_totals_changed ON article_totals (article_id) WHERE changed;

-- Views per article per calendar day (Asia/Ho_Chi_Minh): "today" and most-read.
CREATE TABLE daily_totals (
    article_id bigint NOT NULL,
    day date NOT NULL,
    views bigint NOT NULL CHECK (views >= 0),
    PRIMARY KEY (article_id, day)
);
CREATE INDEX daily_totals_day ON daily_totals (day, article_id);
