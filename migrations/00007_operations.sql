-- +goose Up
-- Replays of stored events by an admin, as their processing history.
CREATE TABLE webhook_replays (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    svix_id     text        NOT NULL REFERENCES webhook_events (svix_id) ON DELETE CASCADE,
    replayed_at timestamptz NOT NULL DEFAULT now(),
    replayed_by text        NOT NULL,
    status      text        NOT NULL,
    outcome     text,
    error       text
);
CREATE INDEX webhook_replays_event_idx ON webhook_replays (svix_id, replayed_at);

-- The event log pages newest first by (received_at, svix_id).
DROP INDEX webhook_events_received_idx;
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at DESC, svix_id DESC);

-- +goose Down
DROP INDEX webhook_events_received_idx;
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);
DROP TABLE webhook_replays;
