package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// FlushHook inserts the jobs the other hooks collected; register it last.
func FlushHook(client *Client) webhook.AfterApply {
	return func(ctx context.Context, tx pgx.Tx, _ webhook.Event, _ postgres.WebhookRecord) error {
		return Flush(ctx, client, tx)
	}
}

// analyticsTypes maps the event types that count in analytics.
var analyticsTypes = map[string]string{
	webhook.TypeUserCreated:    "user_signed_up",
	webhook.TypeUserUpdated:    "user_updated",
	webhook.TypeUserDeleted:    "user_deleted",
	webhook.TypeSessionCreated: "session_created",
}

// WebhookEffects returns the hook that adds an event's side effects in
// its transaction: the welcome email job on user.created, and the
// analytics row of each counted type. A redelivery never reaches it, so
// each counts once.
func WebhookEffects(client *Client) webhook.AfterApply {
	return func(ctx context.Context, tx pgx.Tx, ev webhook.Event, rec postgres.WebhookRecord) error {
		if rec.Status == webhook.StatusFailed || rec.Status == webhook.StatusTombstoned {
			return nil
		}

		// On user.created the user may already exist, synced by a request
		// first (the event is then stale): the welcome is still due.
		if ev.Type == webhook.TypeUserCreated {
			err := Enqueue(ctx, client, tx, WelcomeEmailArgs{ClerkUserID: rec.ClerkUserID}, nil)
			if err != nil {
				return err
			}
		}

		kind, ok := analyticsTypes[ev.Type]
		if !ok {
			return nil
		}
		userID := rec.ClerkUserID
		if ev.Type == webhook.TypeUserDeleted {
			userID = "" // erased: the count stays, the identity does not
		}
		_, err := postgres.RecordAnalytics(ctx, tx, postgres.AnalyticsEvent{
			Type:        kind,
			ClerkUserID: userID,
			OccurredAt:  occurredAt(ev),
			DedupKey:    "svix:" + rec.SvixID,
		})
		return err
	}
}

// occurredAt dates an event by the data's own time: created_at for a
// creation, updated_at for an update, and otherwise when it arrived.
func occurredAt(ev webhook.Event) time.Time {
	var d struct {
		CreatedAt int64 `json:"created_at"`
		UpdatedAt int64 `json:"updated_at"`
	}
	json.Unmarshal(ev.Data, &d)
	ms := d.CreatedAt
	if ev.Type == webhook.TypeUserUpdated {
		ms = d.UpdatedAt
	}
	if ev.Type == webhook.TypeUserDeleted || ms <= 0 {
		return time.Now()
	}
	return time.UnixMilli(ms)
}
