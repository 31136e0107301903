-- +goose Up
-- Emails sent (or skipped) per user and kind. No address is stored: the
-- row only proves the effect happened once.
CREATE TABLE emails_sent (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clerk_user_id text        NOT NULL,
    kind          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('sent', 'skipped_no_email')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clerk_user_id, kind)
);

-- Product analytics. dedup_key makes a redelivered event count once;
-- clerk_user_id is replaced by a random pseudonym on erasure.
CREATE TABLE analytics_events (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type    text        NOT NULL CHECK (event_type IN
        ('user_signed_up', 'user_updated', 'user_deleted', 'session_created', 'user_active')),
    clerk_user_id text,
    occurred_at   timestamptz NOT NULL,
    occurred_on   date        NOT NULL,
    dedup_key     text        NOT NULL UNIQUE
);
CREATE INDEX analytics_events_day_idx ON analytics_events (occurred_on, event_type);
CREATE INDEX analytics_events_user_idx ON analytics_events (clerk_user_id);

-- One row per erased user: when, how, and how many rows each table lost.
-- No personal data beyond the Clerk id, which the tombstone keeps anyway.
CREATE TABLE erasures (
    clerk_user_id text        PRIMARY KEY,
    erased_at     timestamptz NOT NULL DEFAULT now(),
    erased_via    text        NOT NULL,
    row_counts    jsonb       NOT NULL
);

-- The payload purge walks only rows that still hold a payload.
CREATE INDEX webhook_events_payload_idx ON webhook_events (received_at)
    WHERE payload IS NOT NULL;

-- +goose Down
DROP INDEX webhook_events_payload_idx;
DROP TABLE erasures;
DROP TABLE analytics_events;
DROP TABLE emails_sent;
