package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/mail"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// DefaultReminders is ONBOARDING_REMINDERS when unset.
const DefaultReminders = "24h,72h"

// ParseReminders reads ONBOARDING_REMINDERS: comma-separated delays after
// sign-up, or "off".
func ParseReminders(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "off" {
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 24h", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// ReminderArgs asks for one onboarding reminder. Arguments hold the Clerk
// id only.
type ReminderArgs struct {
	ClerkUserID string `json:"clerk_user_id" river:"unique"`
	After       string `json:"after" river:"unique"`
}

// Kind names the job in River's tables.
func (ReminderArgs) Kind() string { return "onboarding_reminder" }

// InsertOpts makes each reminder unique per user.
func (ReminderArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ReminderWorker sends a reminder while onboarding is incomplete.
type ReminderWorker struct {
	river.WorkerDefaults[ReminderArgs]
	Service *Service
	Sender  mail.Sender
	AppName string
	// Phase is read when the job runs: no reminder goes out in mvp.
	Phase  user.Phase
	Logger *slog.Logger
}

// Work sends the reminder once, or records why it was skipped.
func (w *ReminderWorker) Work(ctx context.Context, job *river.Job[ReminderArgs]) error {
	id := job.Args.ClerkUserID
	kind := "onboarding_reminder_" + job.Args.After
	db := w.Service.DB
	logger := w.Logger.With("job_id", job.ID, "user_id", id)

	if !w.Phase.WebhooksEnabled() {
		logger.InfoContext(ctx, "onboarding: reminder skipped in mvp")
		return nil
	}
	if done, err := db.EmailRecorded(ctx, id, kind); err != nil || done {
		return err
	}
	u, err := db.GetUser(ctx, id)
	if errors.Is(err, user.ErrDeleted) || errors.Is(err, user.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	status, err := w.Service.Status(ctx, u)
	if err != nil || status.Completed {
		return err
	}
	if u.Email == nil {
		return db.RecordEmail(ctx, id, kind, postgres.EmailSkippedNoEmail)
	}

	data := mail.Data{AppName: w.AppName}
	if u.FirstName != nil {
		data.FirstName = *u.FirstName
	}
	if status.NextStep != nil {
		data.NextStep = strings.ReplaceAll(*status.NextStep, "_", " ")
	}
	msg, err := mail.Render("reminder", *u.Email, data)
	if err != nil {
		return err
	}
	if err := mail.Deliver(ctx, w.Sender, msg); err != nil {
		return err
	}
	logger.InfoContext(ctx, "onboarding: reminder sent", "after", job.Args.After)
	return db.RecordEmail(ctx, id, kind, postgres.EmailSent)
}
