-- +goose Up
CREATE TABLE users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clerk_id         text        NOT NULL UNIQUE,
    email            text,
    email_verified   boolean     NOT NULL DEFAULT false,
    first_name       text,
    last_name        text,
    username         text,
    image_url        text,
    public_metadata  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    clerk_created_at timestamptz NOT NULL,
    -- Clerk's updated_at, the snapshot version. Snapshots at or below it
    -- change nothing.
    clerk_updated_at timestamptz NOT NULL,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    synced_via       text        NOT NULL
        CHECK (synced_via IN ('request', 'webhook', 'backfill', 'reconcile')),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Email is deliberately not unique: a user deleted and re-created in Clerk
-- returns with a new id and the same address.
CREATE INDEX users_email_idx ON users (lower(email)) WHERE email IS NOT NULL;

-- A deleted Clerk id never comes back. The tombstone holds the id and the
-- time of deletion, nothing personal.
CREATE TABLE user_tombstones (
    clerk_id   text        PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    deleted_via text       NOT NULL
);

-- +goose Down
DROP TABLE user_tombstones;
DROP TABLE users;
