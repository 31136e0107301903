package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/jobs"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// Errors of CompleteStep.
var (
	// ErrUnknownStep: the step is not in ONBOARDING_STEPS.
	ErrUnknownStep = errors.New("unknown onboarding step")
	// ErrDerivedStep: the step follows Clerk data and cannot be set.
	ErrDerivedStep = errors.New("step is derived from Clerk data")
)

// Service records and reports onboarding.
type Service struct {
	DB        *postgres.DB
	Jobs      *jobs.Client
	Steps     []Step
	Reminders []time.Duration
	Logger    *slog.Logger
}

// Apply re-evaluates the derived steps for a snapshot that was just
// written, in its transaction, and completes the onboarding when all steps
// are done.
func (s *Service) Apply(ctx context.Context, tx pgx.Tx, snap user.Snapshot) error {
	done, undone := Evaluate(s.Steps, snap)
	s.Logger.InfoContext(ctx, "onboarding: derived steps evaluated", "user_id", snap.ClerkID,
		"done", done, "not_done", undone)
	return s.update(ctx, tx, snap.ClerkID, done, undone)
}

func (s *Service) update(ctx context.Context, tx pgx.Tx, clerkID string, done, undone []string) error {
	completed, err := postgres.UpdateOnboarding(ctx, tx, clerkID, done, undone, Names(s.Steps))
	if err != nil || !completed {
		return err
	}

	// Completion is recorded once: the UPDATE above matched only while
	// completed_at was empty.
	s.Logger.InfoContext(ctx, "onboarding: completed", "user_id", clerkID)
	_, err = postgres.RecordAnalytics(ctx, tx, postgres.AnalyticsEvent{
		Type: "onboarding_completed", ClerkUserID: clerkID,
		OccurredAt: time.Now(), DedupKey: "onboarding:" + clerkID,
	})
	if err != nil {
		return err
	}
	_, err = jobs.CancelUserJobs(ctx, s.Jobs, tx, clerkID, ReminderArgs{}.Kind())
	return err
}

// CompleteStep marks an app step done for the user; doing it again
// changes nothing. It returns ErrUnknownStep or ErrDerivedStep.
func (s *Service) CompleteStep(ctx context.Context, u user.User, step string) error {
	var found *Step
	for i := range s.Steps {
		if s.Steps[i].Name == step {
			found = &s.Steps[i]
		}
	}
	switch {
	case found == nil:
		return ErrUnknownStep
	case found.Derived:
		return ErrDerivedStep
	}

	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		done, undone := Evaluate(s.Steps, SnapshotOf(u))
		return s.update(ctx, tx, u.ClerkID, append(done, step), undone)
	})
}

// StepStatus is one step in a report.
type StepStatus struct {
	Name   string     `json:"name"`
	Kind   string     `json:"kind"`
	Done   bool       `json:"done"`
	DoneAt *time.Time `json:"done_at"`
}

// Status is a user's onboarding as the front end sees it.
type Status struct {
	Steps       []StepStatus `json:"steps"`
	Percent     int          `json:"percent"`
	NextStep    *string      `json:"next_step"`
	Completed   bool         `json:"completed"`
	CompletedAt *time.Time   `json:"completed_at"`
}

// Status returns the user's onboarding, creating the record from the
// stored row for a user synced before it existed.
func (s *Service) Status(ctx context.Context, u user.User) (Status, error) {
	state, err := s.DB.GetOnboarding(ctx, u.ClerkID)
	if errors.Is(err, postgres.ErrNoOnboarding) {
		err = s.DB.InTx(ctx, func(tx pgx.Tx) error { return s.Apply(ctx, tx, SnapshotOf(u)) })
		if err != nil {
			return Status{}, err
		}
		state, err = s.DB.GetOnboarding(ctx, u.ClerkID)
	}
	if err != nil {
		return Status{}, err
	}
	return s.report(state), nil
}

func (s *Service) report(state postgres.OnboardingState) Status {
	doneAt := map[string]time.Time{}
	for _, d := range state.Done {
		doneAt[d.Step] = d.DoneAt
	}

	out := Status{Steps: []StepStatus{}, CompletedAt: state.CompletedAt, Completed: state.CompletedAt != nil}
	done := 0
	for _, st := range s.Steps {
		ss := StepStatus{Name: st.Name, Kind: "app"}
		if st.Derived {
			ss.Kind = "derived"
		}
		if at, ok := doneAt[st.Name]; ok {
			ss.Done, ss.DoneAt = true, &at
			done++
		} else if out.NextStep == nil {
			name := st.Name
			out.NextStep = &name
		}
		out.Steps = append(out.Steps, ss)
	}
	out.Percent = done * 100 / len(s.Steps)
	return out
}

// WebhookHook re-evaluates derived steps when a user event changed the
// row, and schedules the reminders on user.created, in the event's
// transaction.
func (s *Service) WebhookHook() webhook.AfterApply {
	return func(ctx context.Context, tx pgx.Tx, ev webhook.Event, rec postgres.WebhookRecord) error {
		if rec.Status == webhook.StatusFailed || rec.Status == webhook.StatusTombstoned {
			return nil
		}
		if ev.Type != webhook.TypeUserCreated && ev.Type != webhook.TypeUserUpdated {
			return nil
		}
		if rec.Status == webhook.StatusApplied {
			snap, err := ev.UserSnapshot()
			if err != nil {
				return fmt.Errorf("onboarding: %w", err)
			}
			if err := s.Apply(ctx, tx, snap); err != nil {
				return err
			}
		}
		if ev.Type == webhook.TypeUserCreated && len(s.Reminders) > 0 {
			s.Logger.InfoContext(ctx, "onboarding: reminders scheduled", "user_id", rec.ClerkUserID,
				"count", len(s.Reminders))
			return s.scheduleReminders(ctx, tx, rec.ClerkUserID)
		}
		return nil
	}
}

// scheduleReminders inserts one job per reminder delay, unique per user
// and reminder.
func (s *Service) scheduleReminders(ctx context.Context, tx pgx.Tx, clerkID string) error {
	for _, d := range s.Reminders {
		args := ReminderArgs{ClerkUserID: clerkID, After: d.String()}
		err := jobs.Enqueue(ctx, s.Jobs, tx, args, &river.InsertOpts{ScheduledAt: time.Now().Add(d)})
		if err != nil {
			return fmt.Errorf("schedule reminder: %w", err)
		}
	}
	return nil
}
