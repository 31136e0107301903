// Package fullsync walks all of Clerk's users: backfill applies every one
// through the sync core, and reconcile compares Clerk with the database.
// Both are how a team moves from upsert-on-request to webhooks without
// losing anyone.
package fullsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// MaxPageSize is the largest page Clerk's user list serves.
const MaxPageSize = 500

// Lister reads Clerk's users, by page or one by id; *clerkapi.Client is
// one.
type Lister interface {
	ListUsers(ctx context.Context, offset, limit int) ([]user.Snapshot, []string, error)
	GetUser(ctx context.Context, id string) (user.Snapshot, error)
}

// pager fetches pages at a bounded rate, waiting out 429's Retry-After and
// retrying other failures with exponential backoff.
type pager struct {
	lister   Lister
	limiter  *rate.Limiter
	maxTries uint
	onWait   func(err error, wait time.Duration)
}

func newPager(l Lister, perSecond float64, onWait func(error, time.Duration)) *pager {
	limit := rate.Inf
	if perSecond > 0 {
		limit = rate.Limit(perSecond)
	}
	return &pager{lister: l, limiter: rate.NewLimiter(limit, 1), maxTries: 10, onWait: onWait}
}

type page struct {
	users   []user.Snapshot
	invalid []string
}

func (p *pager) fetch(ctx context.Context, offset, limit int) (page, error) {
	op := func() (page, error) {
		if err := p.limiter.Wait(ctx); err != nil {
			return page{}, backoff.Permanent(err)
		}
		users, invalid, err := p.lister.ListUsers(ctx, offset, limit)
		var unavailable *clerkapi.UnavailableError
		switch {
		case err == nil:
			return page{users: users, invalid: invalid}, nil
		case errors.As(err, &unavailable) && unavailable.RateLimited:
			secs := int((unavailable.RetryAfter + time.Second - 1) / time.Second)
			return page{}, backoff.RetryAfter(max(1, secs))
		case errors.As(err, &unavailable):
			return page{}, err // exponential backoff
		}
		return page{}, backoff.Permanent(err)
	}

	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = 500 * time.Millisecond
	pg, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(eb),
		backoff.WithMaxTries(p.maxTries),
		backoff.WithNotify(func(err error, wait time.Duration) {
			if p.onWait != nil {
				p.onWait(err, wait)
			}
		}))
	if err != nil {
		return page{}, fmt.Errorf("list users at offset %d: %w", offset, err)
	}
	return pg, nil
}
