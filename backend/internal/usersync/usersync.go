// Package usersync is the request path of the sync: given a verified
// caller, it returns the caller's stored row, refreshing it from Clerk
// when the phase and the sync TTL say so. Writes go through the sync core.
package usersync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// ErrNotSynced means, in production phase with fallback fetches off, that
// the caller's row has not arrived by webhook yet.
var ErrNotSynced = errors.New("user not synced yet")

// Store is the part of the database the request path needs.
type Store interface {
	GetUser(ctx context.Context, clerkID string) (user.User, error)
	ApplySnapshot(ctx context.Context, s user.Snapshot, via user.Source) (user.Outcome, error)
	ApplyDeletion(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error)
}

// Fetcher reads one user from Clerk; *clerkapi.Client is one.
type Fetcher interface {
	GetUser(ctx context.Context, clerkID string) (user.Snapshot, error)
}

// Options configures a Syncer.
type Options struct {
	Phase user.Phase
	// TTL is how long a synced row is trusted without asking Clerk.
	TTL time.Duration
	// FallbackFetch lets production phase fetch a caller whose row has not
	// arrived by webhook.
	FallbackFetch bool
	// CacheSize bounds the in-process record of fresh users.
	CacheSize int
}

// Syncer resolves verified callers to their stored rows.
type Syncer struct {
	store   Store
	clerk   Fetcher
	opts    Options
	metrics *metrics.Metrics
	logger  *slog.Logger

	// fresh remembers, per instance, users checked against Clerk within
	// the TTL. It only saves work: with several instances each keeps its
	// own, so each asks Clerk at most once per user per TTL. It is nil
	// when the TTL is (nearly) zero: every request refreshes.
	fresh   *expirable.LRU[string, struct{}]
	flights singleflight.Group
}

// New returns a Syncer.
func New(store Store, clerk Fetcher, opts Options, m *metrics.Metrics, logger *slog.Logger) *Syncer {
	if opts.CacheSize == 0 {
		opts.CacheSize = 100_000
	}
	s := &Syncer{
		store:   store,
		clerk:   clerk,
		opts:    opts,
		metrics: m,
		logger:  logger,
	}
	// expirable.NewLRU sweeps every TTL/100 and panics (in its own
	// goroutine, killing the process) when that rounds to zero, as a TTL
	// of 0, which means "always refresh", does. Such TTLs need no cache.
	if opts.TTL >= minCacheTTL {
		// The library starts a sweeper goroutine per cache that never
		// ends; one per Syncer, for the life of the process.
		s.fresh = expirable.NewLRU[string, struct{}](opts.CacheSize, nil, opts.TTL)
	}
	return s
}

// minCacheTTL is the least TTL worth a freshness cache.
const minCacheTTL = time.Millisecond

// isFresh reports whether the user was checked against Clerk within the
// TTL. Peek, unlike Contains, ignores entries past their TTL that the
// cache has not swept yet.
func (s *Syncer) isFresh(clerkID string) bool {
	if s.fresh == nil {
		return false
	}
	_, ok := s.fresh.Peek(clerkID)
	return ok
}

// markFresh records that the user was just checked against Clerk.
func (s *Syncer) markFresh(clerkID string) {
	if s.fresh != nil {
		s.fresh.Add(clerkID, struct{}{})
	}
}

// Resolve returns the caller's stored row. It returns user.ErrDeleted when
// the user was deleted (also when Clerk answers 404 for a verified
// caller, which it then records as a deletion), ErrNotSynced, or an
// *clerkapi.UnavailableError when Clerk must be asked and cannot answer
// and no row is stored.
func (s *Syncer) Resolve(ctx context.Context, clerkID string) (user.User, error) {
	if !s.opts.Phase.UpsertOnRequest() {
		return s.resolveStored(ctx, clerkID)
	}

	if s.isFresh(clerkID) {
		u, err := s.store.GetUser(ctx, clerkID)
		if !errors.Is(err, user.ErrNotFound) {
			return u, err
		}
		// The row went away behind the cache (an erasure on another
		// instance): ask again.
	}
	return s.refreshShared(ctx, clerkID)
}

// resolveStored is production phase: the stored row is the truth, and a
// missing one is fetched once as a fallback.
func (s *Syncer) resolveStored(ctx context.Context, clerkID string) (user.User, error) {
	u, err := s.store.GetUser(ctx, clerkID)
	if !errors.Is(err, user.ErrNotFound) {
		return u, err
	}
	if !s.opts.FallbackFetch {
		s.metrics.FallbackFetches.WithLabelValues("disabled").Inc()
		return user.User{}, ErrNotSynced
	}

	s.logger.InfoContext(ctx, "usersync: row not arrived by webhook, fetching from clerk",
		"user_id", clerkID)
	u, err = s.refreshShared(ctx, clerkID)
	s.metrics.FallbackFetches.WithLabelValues(fallbackOutcome(err)).Inc()
	return u, err
}

// refreshShared lets concurrent requests for one user share one refresh.
func (s *Syncer) refreshShared(ctx context.Context, clerkID string) (user.User, error) {
	v, err, _ := s.flights.Do(clerkID, func() (any, error) {
		// Shared by every waiter: one caller's cancellation must not
		// fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return s.refresh(ctx, clerkID)
	})
	if err != nil {
		return user.User{}, err
	}
	return v.(user.User), nil
}

// refresh asks Clerk for the user unless the stored row is fresh, and
// applies the answer through the sync core.
func (s *Syncer) refresh(ctx context.Context, clerkID string) (user.User, error) {
	stored, err := s.store.GetUser(ctx, clerkID)
	switch {
	case errors.Is(err, user.ErrDeleted):
		return user.User{}, err
	case err == nil && time.Since(stored.SyncedAt) < s.opts.TTL:
		// Another instance, or an earlier life of this one, synced it.
		s.markFresh(clerkID)
		return stored, nil
	case err != nil && !errors.Is(err, user.ErrNotFound):
		return user.User{}, err
	}
	haveStored := err == nil

	snap, err := s.clerk.GetUser(ctx, clerkID)
	switch {
	case errors.Is(err, clerkapi.ErrUserNotFound):
		return user.User{}, s.recordDeleted(ctx, clerkID)
	case errors.Is(err, clerkapi.ErrUnavailable) && haveStored:
		s.metrics.StaleServed.Inc()
		s.logger.WarnContext(ctx, "usersync: clerk unavailable, serving stored row",
			"user_id", clerkID, "err", err)
		return stored, nil
	case err != nil:
		return user.User{}, err
	}

	out, err := s.store.ApplySnapshot(ctx, snap, user.SourceRequest)
	if err != nil {
		return user.User{}, err
	}
	s.metrics.SyncWrites.WithLabelValues(string(user.SourceRequest), string(out)).Inc()
	if out == user.OutcomeTombstoned {
		return user.User{}, user.ErrDeleted
	}
	s.markFresh(clerkID)

	if haveStored && !out.Wrote() {
		return stored, nil
	}
	return s.store.GetUser(ctx, clerkID)
}

// recordDeleted applies a deletion Clerk revealed by answering 404 for a
// caller whose token it signed.
func (s *Syncer) recordDeleted(ctx context.Context, clerkID string) error {
	out, err := s.store.ApplyDeletion(ctx, clerkID, user.SourceRequest)
	if err != nil {
		return fmt.Errorf("record deletion: %w", err)
	}
	s.metrics.SyncWrites.WithLabelValues(string(user.SourceRequest), string(out)).Inc()
	s.Forget(clerkID)
	s.logger.InfoContext(ctx, "usersync: clerk no longer knows the caller, user deleted",
		"user_id", clerkID)
	return user.ErrDeleted
}

// Forget drops the user from the freshness cache, after an erasure.
func (s *Syncer) Forget(clerkID string) {
	if s.fresh != nil {
		s.fresh.Remove(clerkID)
	}
}

func fallbackOutcome(err error) string {
	switch {
	case err == nil:
		return "fetched"
	case errors.Is(err, user.ErrDeleted):
		return "deleted"
	case errors.Is(err, clerkapi.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}
