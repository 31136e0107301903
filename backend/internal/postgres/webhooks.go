package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebhookRecord is one verified delivery as stored in webhook_events.
type WebhookRecord struct {
	SvixID        string
	EventType     string
	ClerkUserID   string
	Status        string
	Outcome       string
	Error         string
	Payload       []byte // valid JSON or nil
	SvixTimestamp time.Time
}

// ErrDuplicate means a record for the svix id exists already.
var ErrDuplicate = errors.New("webhook already recorded")

// InsertWebhook records a delivery in q's transaction. It returns
// ErrDuplicate when the id is known; a concurrent first delivery makes it
// wait for that one to commit or roll back.
func InsertWebhook(ctx context.Context, q Querier, r WebhookRecord) error {
	tag, err := q.Exec(ctx, `
		INSERT INTO webhook_events (svix_id, event_type, clerk_user_id, status,
			outcome, error, payload, svix_timestamp)
		VALUES ($1, $2, NULLIF($3, ''), $4, NULLIF($5, ''), NULLIF($6, ''), $7, $8)
		ON CONFLICT (svix_id) DO NOTHING`,
		r.SvixID, r.EventType, r.ClerkUserID, r.Status, r.Outcome, r.Error,
		nullJSON(r.Payload), r.SvixTimestamp)
	if err != nil {
		return fmt.Errorf("insert webhook: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrDuplicate
	}
	return nil
}

// CountRedelivery notes another delivery of a recorded svix id.
func (db *DB) CountRedelivery(ctx context.Context, svixID string) error {
	_, err := db.Pool.Exec(ctx, `
		UPDATE webhook_events SET attempts = attempts + 1, last_seen_at = now()
		WHERE svix_id = $1`, svixID)
	if err != nil {
		return fmt.Errorf("count redelivery: %w", interpretError(err))
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db.Pool, fn)
	if err != nil {
		return interpretError(err)
	}
	return nil
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
