-- +goose Up
-- Progressive onboarding: one record per synced user, one row per step
-- done. Rows go with the user's row on erasure.
CREATE TABLE onboarding (
    clerk_user_id text        PRIMARY KEY REFERENCES users (clerk_id) ON DELETE CASCADE,
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

CREATE TABLE onboarding_steps (
    clerk_user_id text        NOT NULL REFERENCES onboarding (clerk_user_id) ON DELETE CASCADE,
    step          text        NOT NULL,
    done_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clerk_user_id, step)
);

-- Where sign-ups and sessions come from, for velocity rules. The IP is
-- stored as an HMAC under a server key, never in clear.
CREATE TABLE ip_activity (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clerk_user_id text        NOT NULL REFERENCES users (clerk_id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('signup', 'session')),
    ip_hash       text,
    email_domain  text,
    dedup_key     text        NOT NULL UNIQUE,
    occurred_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ip_activity_ip_idx ON ip_activity (ip_hash, occurred_at) WHERE ip_hash IS NOT NULL;
CREATE INDEX ip_activity_domain_idx ON ip_activity (email_domain, occurred_at) WHERE email_domain IS NOT NULL;
CREATE INDEX ip_activity_user_idx ON ip_activity (clerk_user_id);

-- One row per user and rule that fired; re-evaluation replaces it.
CREATE TABLE fraud_signals (
    clerk_user_id text        NOT NULL REFERENCES users (clerk_id) ON DELETE CASCADE,
    rule          text        NOT NULL,
    score         integer     NOT NULL,
    detail        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clerk_user_id, rule)
);

-- A user whose score reached the threshold, and what was done about it.
CREATE TABLE fraud_flags (
    clerk_user_id text        PRIMARY KEY REFERENCES users (clerk_id) ON DELETE CASCADE,
    score         integer     NOT NULL,
    status        text        NOT NULL CHECK (status IN ('flagged', 'kept', 'unbanned')),
    action        text        NOT NULL CHECK (action IN ('none', 'flag', 'ban')),
    banned_at     timestamptz,
    flagged_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz
);
CREATE INDEX fraud_flags_open_idx ON fraud_flags (flagged_at) WHERE status = 'flagged';

ALTER TABLE analytics_events DROP CONSTRAINT analytics_events_event_type_check;
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_event_type_check
    CHECK (event_type IN ('user_signed_up', 'user_updated', 'user_deleted',
        'session_created', 'user_active', 'onboarding_completed'));

-- +goose Down
ALTER TABLE analytics_events DROP CONSTRAINT analytics_events_event_type_check;
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_event_type_check
    CHECK (event_type IN ('user_signed_up', 'user_updated', 'user_deleted',
        'session_created', 'user_active'));
DROP TABLE fraud_flags;
DROP TABLE fraud_signals;
DROP TABLE ip_activity;
DROP TABLE onboarding_steps;
DROP TABLE onboarding;
