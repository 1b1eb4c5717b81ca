-- Most read by period: views.counted carries an article's views in the 7 and the 30 days
-- ending on its `day` (Asia/Ho_Chi_Minh), beside its views on that day (`today`). The
-- home page ranks by them; a row whose day has passed counts for today no more, and the
-- counter republishes the sums of every article viewed in the 30 days when a day begins.
ALTER TABLE article_views
    ADD COLUMN last_7_days bigint NOT NULL DEFAULT 0 CHECK (last_7_days >= 0),
    ADD COLUMN last_30_days bigint NOT NULL DEFAULT 0 CHECK (last_30_days >= 0);
-- Rows written before: the day's views are all that is known of their periods.
UPDATE article_views SET last_7_days = today, last_30_days = today;

CREATE INDEX article_views_day ON article_views (day);
