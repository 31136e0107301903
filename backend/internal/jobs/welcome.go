package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/mail"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// WelcomeEmailArgs asks for the welcome email of one user. Job arguments
// hold the Clerk id only, never personal data.
type WelcomeEmailArgs struct {
	ClerkUserID string `json:"clerk_user_id" river:"unique"`
}

// Kind names the job in River's tables.
func (WelcomeEmailArgs) Kind() string { return "welcome_email" }

// InsertOpts makes the job unique per user while River keeps it.
func (WelcomeEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// WelcomeWorker sends the welcome email once per user, ever: the
// emails_sent row outlives River's job and guards a second job.
type WelcomeWorker struct {
	river.WorkerDefaults[WelcomeEmailArgs]
	DB      *postgres.DB
	Sender  mail.Sender
	AppName string
	Logger  *slog.Logger
}

// Timeout bounds one attempt.
func (w *WelcomeWorker) Timeout(*river.Job[WelcomeEmailArgs]) time.Duration {
	return 30 * time.Second
}

// Work sends the email, or records that there is no address to send it
// to. A user erased meanwhile gets nothing. A send error is returned so
// that River retries with backoff.
func (w *WelcomeWorker) Work(ctx context.Context, job *river.Job[WelcomeEmailArgs]) error {
	const kind = "welcome"
	id := job.Args.ClerkUserID
	logger := w.Logger.With("job_id", job.ID, "user_id", id)

	done, err := w.DB.EmailRecorded(ctx, id, kind)
	if err != nil || done {
		return err
	}

	u, err := w.DB.GetUser(ctx, id)
	if errors.Is(err, user.ErrDeleted) || errors.Is(err, user.ErrNotFound) {
		logger.InfoContext(ctx, "jobs: welcome email skipped, user gone")
		return nil
	}
	if err != nil {
		return err
	}
	if u.Email == nil {
		logger.InfoContext(ctx, "jobs: welcome email skipped, no email address")
		return w.DB.RecordEmail(ctx, id, kind, postgres.EmailSkippedNoEmail)
	}

	first := ""
	if u.FirstName != nil {
		first = *u.FirstName
	}
	msg, err := mail.Render(kind, *u.Email, mail.Data{AppName: w.AppName, FirstName: first})
	if err != nil {
		return fmt.Errorf("render welcome: %w", err)
	}
	if err := mail.Deliver(ctx, w.Sender, msg); err != nil {
		return err
	}
	// A crash between the send and this line sends again on retry: the
	// email is at least once, as SMTP allows no better.
	if err := w.DB.RecordEmail(ctx, id, kind, postgres.EmailSent); err != nil {
		return err
	}
	logger.InfoContext(ctx, "jobs: welcome email sent")
	return nil
}
