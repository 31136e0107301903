package fullsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Report is what reconcile found: Clerk ids only, never personal data.
type Report struct {
	StartedAt  time.Time `json:"started_at"`
	ClerkUsers int       `json:"clerk_users"`
	LocalUsers int       `json:"local_users"`
	// Missing: in Clerk, not stored here, and not tombstoned.
	Missing []string `json:"missing"`
	// Stale: stored with an older updated_at than Clerk's.
	Stale []string `json:"stale"`
	// Gone: stored here, unknown to Clerk.
	Gone []string `json:"gone"`
	// Fixed says whether each drift was repaired.
	Fixed bool `json:"fixed"`
}

// Drift reports whether anything differs.
func (r Report) Drift() bool {
	return len(r.Missing)+len(r.Stale)+len(r.Gone) > 0
}

// ReconcileStore is what reconcile needs of the database.
type ReconcileStore interface {
	UserVersions(ctx context.Context) (map[string]time.Time, error)
	Tombstoned(ctx context.Context, ids []string) (map[string]bool, error)
	ApplySnapshot(ctx context.Context, s user.Snapshot, via user.Source) (user.Outcome, error)
	RecordReconcile(ctx context.Context, r postgres.ReconcileRun) error
}

// Eraser erases a user gone from Clerk; *gdpr.Eraser is one.
type Eraser interface {
	Erase(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error)
}

// ReconcileOptions configures a reconcile.
type ReconcileOptions struct {
	PageSize      int
	RatePerSecond float64
	// Fix repairs each drift through the sync core; users gone from
	// Clerk are erased.
	Fix    bool
	Logger *slog.Logger
}

// Reconcile compares every Clerk user with the database and, with Fix,
// repairs the differences. It holds one id and version per user in
// memory (about 100 bytes each).
func Reconcile(ctx context.Context, store ReconcileStore, eraser Eraser, lister Lister, o ReconcileOptions) (Report, error) {
	r := Report{StartedAt: time.Now().UTC(), Missing: []string{}, Stale: []string{}, Gone: []string{}}
	local, err := store.UserVersions(ctx)
	if err != nil {
		return r, err
	}
	r.LocalUsers = len(local)

	inClerk := map[string]user.Snapshot{}
	p := newPager(lister, o.RatePerSecond, func(err error, wait time.Duration) {
		o.Logger.WarnContext(ctx, "reconcile: clerk unavailable, waiting", "wait", wait, "err", err)
	})
	for offset := 0; ; {
		pg, err := p.fetch(ctx, offset, o.PageSize)
		if err != nil {
			return r, err
		}
		for _, s := range pg.users {
			inClerk[s.ClerkID] = s
		}
		n := len(pg.users) + len(pg.invalid)
		offset += n
		r.ClerkUsers += n
		if n < o.PageSize {
			break
		}
	}

	var notLocal []string
	for id, s := range inClerk {
		v, ok := local[id]
		switch {
		case !ok:
			notLocal = append(notLocal, id)
		case v.Before(s.UpdatedAt):
			r.Stale = append(r.Stale, id)
		}
	}
	dead, err := store.Tombstoned(ctx, notLocal)
	if err != nil {
		return r, err
	}
	for _, id := range notLocal {
		if !dead[id] {
			r.Missing = append(r.Missing, id)
		}
	}
	for id, v := range local {
		if _, ok := inClerk[id]; ok {
			continue
		}
		// Offsets shift when Clerk deletes users during the listing, so a
		// live user can be passed over: ask for each one before calling
		// it gone, since fixing it means erasing it.
		s, err := lister.GetUser(ctx, id)
		switch {
		case errors.Is(err, clerkapi.ErrUserNotFound):
			r.Gone = append(r.Gone, id)
		case err != nil:
			return r, fmt.Errorf("confirm %s is gone: %w", id, err)
		default:
			inClerk[id] = s
			r.ClerkUsers++
			if v.Before(s.UpdatedAt) {
				r.Stale = append(r.Stale, id)
			}
		}
	}
	slices.Sort(r.Missing)
	slices.Sort(r.Stale)
	slices.Sort(r.Gone)

	if o.Fix {
		if err := fix(ctx, store, eraser, inClerk, r); err != nil {
			return r, err
		}
		r.Fixed = true
	}

	err = store.RecordReconcile(ctx, postgres.ReconcileRun{
		StartedAt: r.StartedAt, ClerkUsers: r.ClerkUsers, LocalUsers: r.LocalUsers,
		Missing: len(r.Missing), Stale: len(r.Stale), Gone: len(r.Gone),
		Fixed: r.Fixed, Report: r,
	})
	return r, err
}

// fix applies the drift through the core: newer data never loses, and a
// user gone from Clerk is erased like any deletion.
func fix(ctx context.Context, store ReconcileStore, eraser Eraser, inClerk map[string]user.Snapshot, r Report) error {
	for _, id := range append(slices.Clone(r.Missing), r.Stale...) {
		if _, err := store.ApplySnapshot(ctx, inClerk[id], user.SourceReconcile); err != nil {
			return err
		}
	}
	for _, id := range r.Gone {
		if _, err := eraser.Erase(ctx, id, user.SourceReconcile); err != nil {
			return err
		}
	}
	return nil
}
