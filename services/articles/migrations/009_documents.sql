-- Documents ("văn bản": decisions, plans, forms) attached to an article, stored in Postgres
-- like images, so every instance serves them. A document never changes once uploaded
-- (a new file is a new row): its title and place in the list may.
CREATE TABLE documents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    title text NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 300),
    -- As it was uploaded, cleaned (domain.clean_file_name): offered when downloading.
    file_name text NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 200),
    content_type text NOT NULL CHECK (content_type IN (
        'application/pdf',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        'application/vnd.oasis.opendocument.text',
        'application/vnd.oasis.opendocument.spreadsheet'
    )),
    data bytea NOT NULL,
    byte_size integer NOT NULL CHECK (byte_size > 0),
    sha256 text NOT NULL,
    position integer NOT NULL DEFAULT 0,
    uploaded_by bigint REFERENCES users (id),
    uploaded_at timestamptz NOT NULL DEFAULT now()
);

-- Office files are ZIPs and PDFs mostly compressed streams: out-of-line storage without
-- another compression attempt.
ALTER TABLE documents ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE INDEX documents_article ON documents (article_id, position, id);
