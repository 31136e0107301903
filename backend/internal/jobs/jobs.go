// Package jobs runs clerksync's side effects as River jobs: they are
// inserted in the transaction of the event that causes them, survive
// crashes and restarts, retry with backoff, and end visible in River's
// tables when they give up.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/clerksync/clerksync/backend/internal/mail"
	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// Client is River's client over pgx.
type Client = river.Client[pgx.Tx]

// Options configures the job system.
type Options struct {
	// Work runs workers in this process; false makes an insert-only
	// client, for API-only instances.
	Work bool
	// MaxWorkers bounds concurrent jobs (default 10).
	MaxWorkers int
	// PollInterval is how often workers look for jobs besides
	// LISTEN/NOTIFY (default 1s).
	PollInterval time.Duration
	// PollOnly turns LISTEN/NOTIFY off, for transaction-mode poolers.
	PollOnly bool
	// PayloadRetention is how long webhook payloads are kept.
	PayloadRetention time.Duration
	// RecordRetention is how long webhook records are kept at all.
	RecordRetention time.Duration
	// AppName is used in email templates.
	AppName string
	// RetryPolicy replaces River's default backoff (tests shorten it).
	RetryPolicy river.ClientRetryPolicy
	// ReconcileInterval, when above zero, runs Reconcile periodically on
	// the elected leader's schedule.
	ReconcileInterval time.Duration
	Reconcile         func(ctx context.Context) error
	// Register adds the workers of other packages (onboarding, fraud).
	Register []func(*river.Workers)
}

// New builds the River client and registers every worker.
func New(pool *pgxpool.Pool, db *postgres.DB, sender mail.Sender, opts Options, logger *slog.Logger) (*Client, error) {
	if opts.PayloadRetention <= 0 {
		opts.PayloadRetention = 30 * 24 * time.Hour
	}
	if opts.RecordRetention <= 0 {
		opts.RecordRetention = 365 * 24 * time.Hour
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &WelcomeWorker{DB: db, Sender: sender, AppName: opts.AppName, Logger: logger})
	river.AddWorker(workers, &PurgeWorker{DB: db, Retention: opts.PayloadRetention,
		RecordRetention: opts.RecordRetention, Logger: logger})
	if opts.Reconcile != nil {
		river.AddWorker(workers, &ReconcileWorker{Run: opts.Reconcile})
	}
	for _, register := range opts.Register {
		register(workers)
	}

	cfg := &river.Config{
		Workers:     workers,
		Logger:      logger.With("component", "river"),
		RetryPolicy: opts.RetryPolicy,
		JobTimeout:  time.Minute,
		PollOnly:    opts.PollOnly,
	}
	if opts.Work {
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: max(opts.MaxWorkers, 10)},
		}
		cfg.FetchPollInterval = opts.PollInterval
		if cfg.FetchPollInterval > 0 {
			cfg.FetchCooldown = min(cfg.FetchPollInterval, 100*time.Millisecond)
		}
		cfg.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return PurgePayloadsArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		}
		if opts.ReconcileInterval > 0 && opts.Reconcile != nil {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
				river.PeriodicInterval(opts.ReconcileInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
				nil))
		}
	}

	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// pendingStates are the states of a job that has not run to its end.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// CancelUserJobs cancels, in tx, every pending job about the user, or
// only those of the given kinds. It returns how many it cancelled.
func CancelUserJobs(ctx context.Context, client *Client, tx pgx.Tx, clerkID string, kinds ...string) (int, error) {
	params := river.NewJobListParams().
		States(pendingStates...).
		Where("args->>'clerk_user_id' = @id", river.NamedArgs{"id": clerkID}).
		First(1000)
	if len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := client.JobListTx(ctx, tx, params)
	if err != nil {
		return 0, fmt.Errorf("list user jobs: %w", err)
	}
	for _, j := range res.Jobs {
		if _, err := client.JobCancelTx(ctx, tx, j.ID); err != nil {
			return 0, fmt.Errorf("cancel job %d: %w", j.ID, err)
		}
	}
	return len(res.Jobs), nil
}
