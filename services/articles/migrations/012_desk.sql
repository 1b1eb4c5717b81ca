-- The editors' desk (issue 10, "manage").

-- Readers' feedback cases as the moderation events tell them (feedback.submitted,
-- .approved, .rejected, .updated, .withdrawn): only the status and the version, by the
-- case's id, so the desk's home can count what waits for a moderator without asking the
-- feedback service. A late or repeated event never takes a case back to an older status
-- (the upsert keeps the higher version). No name, no text: nothing personal is kept.
CREATE TABLE feedback_cases (
    id bigint PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('waiting', 'approved', 'rejected', 'withdrawn')),
    version bigint NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_cases_waiting ON feedback_cases (id) WHERE status = 'waiting';

-- Imports started from the desk (/quan-tri/nhap-bai): their progress and summary, in the
-- database so that any instance answers the progress page, whichever one runs the import.
CREATE TABLE import_jobs (
    id bigserial PRIMARY KEY,
    started_by bigint REFERENCES users (id) ON DELETE SET NULL,
    file_name text NOT NULL,
    file_format text NOT NULL CHECK (file_format IN ('jsonl', 'wxr')),
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    total integer NOT NULL DEFAULT 0,
    done integer NOT NULL DEFAULT 0,
    summary jsonb,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    -- Raised with every step: a running job not touched for long lost its instance.
    touched_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX import_jobs_newest ON import_jobs (started_at DESC);
