-- +goose Up
-- Where an interrupted backfill resumes, and what it has done so far.
CREATE TABLE backfill_checkpoints (
    name        text        PRIMARY KEY,
    next_offset integer     NOT NULL DEFAULT 0,
    created     integer     NOT NULL DEFAULT 0,
    updated     integer     NOT NULL DEFAULT 0,
    unchanged   integer     NOT NULL DEFAULT 0,
    skipped     integer     NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- One row per reconcile run: the drift it found (ids only) and fixed.
CREATE TABLE reconcile_runs (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    clerk_users   integer     NOT NULL,
    local_users   integer     NOT NULL,
    missing       integer     NOT NULL,
    stale         integer     NOT NULL,
    gone          integer     NOT NULL,
    fixed         boolean     NOT NULL,
    report        jsonb       NOT NULL
);

-- +goose Down
DROP TABLE reconcile_runs;
DROP TABLE backfill_checkpoints;
