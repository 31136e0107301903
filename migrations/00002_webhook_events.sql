-- +goose Up
-- One row per Svix message id. The row is written in the same transaction
-- as the event's effects, so a redelivery finds it and does nothing.
CREATE TABLE webhook_events (
    svix_id        text        PRIMARY KEY,
    event_type     text        NOT NULL,
    clerk_user_id  text,
    -- applied: it changed the users table; ignored: a type clerksync does
    -- not handle; stale: an older or equal version; tombstoned: the user
    -- was deleted before; failed: verified but unusable, kept for a person.
    status         text        NOT NULL
        CHECK (status IN ('applied', 'ignored', 'stale', 'tombstoned', 'failed')),
    outcome        text,
    error          text,
    attempts       integer     NOT NULL DEFAULT 1,
    -- The verified body. Personal data: purged after the retention period
    -- and on erasure.
    payload        jsonb,
    svix_timestamp timestamptz,
    received_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);
CREATE INDEX webhook_events_user_idx ON webhook_events (clerk_user_id)
    WHERE clerk_user_id IS NOT NULL;
CREATE INDEX webhook_events_failed_idx ON webhook_events (received_at)
    WHERE status = 'failed';

-- +goose Down
DROP TABLE webhook_events;
