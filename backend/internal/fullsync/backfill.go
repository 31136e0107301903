package fullsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// checkpointName names the backfill's row in backfill_checkpoints.
const checkpointName = "clerk_users"

// BackfillOptions configures a backfill.
type BackfillOptions struct {
	PageSize int
	// RatePerSecond bounds list requests (0: no bound besides Clerk's
	// Retry-After).
	RatePerSecond float64
	DryRun        bool
	// Restart ignores a saved checkpoint.
	Restart bool
	// Progress, when set, is told how many users were handled of total.
	Progress func(done, total int)
	Logger   *slog.Logger
}

// Summary counts what a backfill did with each user.
type Summary struct {
	Created   int  `json:"created"`
	Updated   int  `json:"updated"`
	Unchanged int  `json:"unchanged"`
	Skipped   int  `json:"skipped"`
	Resumed   bool `json:"resumed"`
}

// Store is what backfill needs of the database.
type Store interface {
	LoadCheckpoint(ctx context.Context, name string) (postgres.Checkpoint, error)
	SaveCheckpoint(ctx context.Context, c postgres.Checkpoint) error
	DeleteCheckpoint(ctx context.Context, name string) error
	ApplySnapshot(ctx context.Context, s user.Snapshot, via user.Source) (user.Outcome, error)
	GetUser(ctx context.Context, clerkID string) (user.User, error)
}

// Backfill applies every Clerk user through the sync core, page by page,
// saving a checkpoint after each page so that an interrupted run resumes
// where it stopped. Newer stored data and tombstones win, as always. A
// dry run reads and compares but writes nothing, checkpoint included.
//
// Offsets shift when users are deleted in Clerk during the run, so a user
// may be passed over; run reconcile afterwards to catch it.
func Backfill(ctx context.Context, store Store, lister Lister, total int, o BackfillOptions) (Summary, error) {
	if o.PageSize <= 0 || o.PageSize > MaxPageSize {
		return Summary{}, fmt.Errorf("page size %d is not from 1 to %d", o.PageSize, MaxPageSize)
	}
	if o.Restart && !o.DryRun {
		if err := store.DeleteCheckpoint(ctx, checkpointName); err != nil {
			return Summary{}, err
		}
	}

	cp := postgres.Checkpoint{Name: checkpointName, StartedAt: time.Now()}
	if !o.DryRun {
		var err error
		if cp, err = store.LoadCheckpoint(ctx, checkpointName); err != nil {
			return Summary{}, err
		}
		if cp.FinishedAt != nil {
			cp = postgres.Checkpoint{Name: checkpointName, StartedAt: time.Now()}
		}
	}
	sum := Summary{Resumed: cp.NextOffset > 0, Created: cp.Created, Updated: cp.Updated,
		Unchanged: cp.Unchanged, Skipped: cp.Skipped}

	p := newPager(lister, o.RatePerSecond, func(err error, wait time.Duration) {
		o.Logger.WarnContext(ctx, "backfill: clerk unavailable, waiting", "wait", wait, "err", err)
	})
	for {
		pg, err := p.fetch(ctx, cp.NextOffset, o.PageSize)
		if err != nil {
			return sum, err
		}
		for _, s := range pg.users {
			out, err := apply(ctx, store, s, o.DryRun)
			if err != nil {
				return sum, err
			}
			sum.count(out)
		}
		sum.Skipped += len(pg.invalid)

		n := len(pg.users) + len(pg.invalid)
		cp.NextOffset += n
		done := n < o.PageSize
		if !o.DryRun {
			cp.Created, cp.Updated, cp.Unchanged, cp.Skipped = sum.Created, sum.Updated, sum.Unchanged, sum.Skipped
			if done {
				now := time.Now()
				cp.FinishedAt = &now
			}
			if err := store.SaveCheckpoint(ctx, cp); err != nil {
				return sum, err
			}
		}
		if o.Progress != nil {
			o.Progress(cp.NextOffset, total)
		}
		if done {
			return sum, nil
		}
	}
}

// apply writes s, or in a dry run says what writing it would do.
func apply(ctx context.Context, store Store, s user.Snapshot, dryRun bool) (user.Outcome, error) {
	if !dryRun {
		return store.ApplySnapshot(ctx, s, user.SourceBackfill)
	}
	stored, err := store.GetUser(ctx, s.ClerkID)
	switch {
	case errors.Is(err, user.ErrDeleted):
		return user.OutcomeTombstoned, nil
	case errors.Is(err, user.ErrNotFound):
		return user.OutcomeCreated, nil
	case err != nil:
		return "", err
	case stored.ClerkUpdatedAt.Before(s.UpdatedAt):
		return user.OutcomeUpdated, nil
	}
	return user.OutcomeUnchanged, nil
}

func (s *Summary) count(out user.Outcome) {
	switch out {
	case user.OutcomeCreated:
		s.Created++
	case user.OutcomeUpdated:
		s.Updated++
	case user.OutcomeUnchanged:
		s.Unchanged++
	default:
		s.Skipped++
	}
}
