// Package analytics records product events: the ones webhooks bring
// (recorded with the event, see jobs.WebhookEffects) and user_active, a
// user's first authenticated request of a UTC day.
package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// Activity records user_active without a write on every request: each
// instance remembers who it has recorded today, and the database's
// unique key makes instances that both record it count once.
type Activity struct {
	db     *postgres.DB
	logger *slog.Logger
	seen   *expirable.LRU[string, struct{}]
	now    func() time.Time
}

// NewActivity returns an Activity remembering up to size users a day.
func NewActivity(db *postgres.DB, size int, logger *slog.Logger) *Activity {
	return &Activity{
		db:     db,
		logger: logger,
		// Its sweeper goroutine lives as long as the process.
		seen: expirable.NewLRU[string, struct{}](size, nil, 25*time.Hour),
		now:  time.Now,
	}
}

// Seen notes an authenticated request of the user. A failure is logged
// and the request goes on: analytics never fails a request.
func (a *Activity) Seen(ctx context.Context, clerkID string) {
	now := a.now().UTC()
	key := "active:" + clerkID + ":" + now.Format(time.DateOnly)
	if a.seen.Contains(key) {
		return
	}

	_, err := a.db.RecordAnalytics(ctx, postgres.AnalyticsEvent{
		Type:        "user_active",
		ClerkUserID: clerkID,
		OccurredAt:  now,
		DedupKey:    key,
	})
	if err != nil {
		a.logger.WarnContext(ctx, "analytics: recording activity failed", "user_id", clerkID, "err", err)
		return
	}
	a.seen.Add(key, struct{}{})
}
