package gdpr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// Export is everything stored about one user.
type Export struct {
	ExportedAt    time.Time        `json:"exported_at"`
	Profile       *user.User       `json:"profile"`
	WebhookEvents []map[string]any `json:"webhook_events"`
	Analytics     []map[string]any `json:"analytics_events"`
	EmailsSent    []map[string]any `json:"emails_sent"`
	PendingJobs   []map[string]any `json:"pending_jobs"`
}

// Export collects what is stored about the user.
func (e *Eraser) Export(ctx context.Context, clerkID string) (Export, error) {
	out := Export{ExportedAt: time.Now().UTC()}
	u, err := e.DB.GetUser(ctx, clerkID)
	switch {
	case err == nil:
		out.Profile = &u
	case !errors.Is(err, user.ErrNotFound):
		return Export{}, err
	}

	rows, err := e.DB.UserRows(ctx, clerkID)
	if err != nil {
		return Export{}, fmt.Errorf("export: %w", err)
	}
	out.WebhookEvents = rows["webhook_events"]
	out.Analytics = rows["analytics_events"]
	out.EmailsSent = rows["emails_sent"]
	out.PendingJobs = rows["pending_jobs"]
	return out, nil
}
