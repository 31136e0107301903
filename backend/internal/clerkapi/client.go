// Package clerkapi is clerksync's adapter to Clerk: it verifies session
// tokens against Clerk's JWKS and reads users from the Backend API, both
// through clerk-sdk-go, and turns Clerk's users into domain snapshots.
package clerkapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	clerkuser "github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Errors of the Backend API, as callers branch on them.
var (
	// ErrUserNotFound means Clerk answered 404 for the user: it was deleted.
	ErrUserNotFound = errors.New("clerk: user not found")
	// ErrUnavailable means Clerk could not answer now; see RetryAfter.
	ErrUnavailable = errors.New("clerk: unavailable")
	// ErrRejected means Clerk refused the call (another 4xx): a retry
	// would not help.
	ErrRejected = errors.New("clerk: request rejected")
)

// UnavailableError is ErrUnavailable with the wait Clerk asked for (429
// Retry-After) or a default.
type UnavailableError struct {
	RetryAfter time.Duration
	// RateLimited says Clerk answered 429, and RetryAfter is its own.
	RateLimited bool
	Cause       error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("clerk: unavailable, retry after %s: %v", e.RetryAfter, e.Cause)
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Cause }

// defaultRetryAfter is offered to callers when Clerk gives no wait.
const defaultRetryAfter = 5 * time.Second

// Client reads users from Clerk's Backend API.
type Client struct {
	users   *clerkuser.Client
	backend clerk.ClientConfig
	metrics *metrics.Metrics

	// blockedUntil holds, in Unix nanoseconds, the end of the last
	// Retry-After, or of a short pause after a failure: no call is made
	// before it. rateLimited says which.
	blockedUntil atomic.Int64
	rateLimited  atomic.Bool
}

// NewClient returns a client for the Backend API at baseURL (Clerk's own
// or the local stand-in) authenticated with secretKey.
func NewClient(baseURL, secretKey string, m *metrics.Metrics) *Client {
	// Concurrent requests of users not yet fresh each call Clerk: keep
	// enough idle connections for a burst to reuse them instead of opening
	// (and, over TLS, handshaking) new ones. Go's default keeps two.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	cfg := clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		URL:        clerk.String(baseURL),
		Key:        clerk.String(secretKey),
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: tr},
	}}
	return &Client{users: clerkuser.NewClient(&cfg), backend: cfg, metrics: m}
}

// Config returns the SDK configuration, for other SDK clients.
func (c *Client) Config() *clerk.ClientConfig { return &c.backend }

// Users returns the SDK's user client, for listing and administration.
func (c *Client) Users() *clerkuser.Client { return c.users }

// GetUser fetches one user and returns its snapshot. It returns
// ErrUserNotFound when Clerk answers 404, an *UnavailableError when Clerk
// rate limits, fails or cannot be reached, and an error wrapping
// user.ErrInvalidSnapshot when the answer is unusable.
func (c *Client) GetUser(ctx context.Context, id string) (user.Snapshot, error) {
	if err := c.waitingOut("get_user"); err != nil {
		return user.Snapshot{}, err
	}

	u, err := c.users.Get(ctx, id)
	if err != nil {
		err = c.interpret(err)
		c.count("get_user", outcome(err))
		return user.Snapshot{}, err
	}
	c.count("get_user", "ok")
	return SnapshotFromUser(u)
}

// interpret maps SDK errors to this package's errors and records a
// Retry-After so that later calls wait it out.
func (c *Client) interpret(err error) error {
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) {
		if errors.Is(err, context.Canceled) {
			return err
		}
		c.pause(failurePause, false)
		return &UnavailableError{RetryAfter: defaultRetryAfter, Cause: err}
	}

	switch status := apiErr.HTTPStatusCode; {
	case status == http.StatusNotFound:
		return ErrUserNotFound
	case status == http.StatusTooManyRequests:
		wait := retryAfter(apiErr)
		c.pause(wait, true)
		return &UnavailableError{RetryAfter: wait, RateLimited: true, Cause: err}
	case status >= 500:
		c.pause(failurePause, false)
		return &UnavailableError{RetryAfter: defaultRetryAfter, Cause: err}
	}
	return fmt.Errorf("%w: status %d: %w", ErrRejected, apiErr.HTTPStatusCode, err)
}

// failurePause spares Clerk (and our callers' latency) during an outage:
// after a 5xx or a network failure, calls wait this long.
const failurePause = 2 * time.Second

// pause stops calls to Clerk for d.
func (c *Client) pause(d time.Duration, rateLimited bool) {
	c.rateLimited.Store(rateLimited)
	c.blockedUntil.Store(time.Now().Add(d).UnixNano())
}

// waitingOut returns an *UnavailableError, without calling Clerk, while
// the last Retry-After or failure pause has not passed.
func (c *Client) waitingOut(op string) error {
	wait := time.Until(time.Unix(0, c.blockedUntil.Load()))
	if wait <= 0 {
		return nil
	}
	c.count(op, "skipped_paused")
	return &UnavailableError{RetryAfter: wait, RateLimited: c.rateLimited.Load(),
		Cause: errors.New("waiting out a Retry-After or a recent failure")}
}

func (c *Client) count(op, outcome string) {
	if c.metrics != nil {
		c.metrics.ClerkRequests.WithLabelValues(op, outcome).Inc()
	}
}

func outcome(err error) string {
	var unavailable *UnavailableError
	switch {
	case errors.Is(err, ErrUserNotFound):
		return "not_found"
	case errors.As(err, &unavailable) && unavailable.RateLimited:
		return "rate_limited"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

// retryAfter reads Retry-After in seconds, bounded to one minute.
func retryAfter(apiErr *clerk.APIErrorResponse) time.Duration {
	if apiErr.Response == nil {
		return defaultRetryAfter
	}
	secs, err := strconv.Atoi(apiErr.Response.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		return defaultRetryAfter
	}
	return min(time.Duration(secs)*time.Second, time.Minute)
}

// DeleteUser deletes the user in Clerk. A user Clerk no longer knows is
// not an error. It returns an *UnavailableError when a retry may succeed.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	if err := c.waitingOut("delete_user"); err != nil {
		return err
	}

	_, err := c.users.Delete(ctx, id)
	if err != nil {
		err = c.interpret(err)
		c.count("delete_user", outcome(err))
		if errors.Is(err, ErrUserNotFound) {
			return nil
		}
		return err
	}
	c.count("delete_user", "ok")
	return nil
}

// ListUsers returns one page of users in creation order. Users whose data
// cannot be ordered are returned as invalid (their ids only), so the caller
// can count them. It returns an *UnavailableError when a retry may succeed.
func (c *Client) ListUsers(ctx context.Context, offset, limit int) (valid []user.Snapshot, invalid []string, err error) {
	if err := c.waitingOut("list_users"); err != nil {
		return nil, nil, err
	}

	params := &clerkuser.ListParams{OrderBy: clerk.String("created_at")}
	params.Limit = clerk.Int64(int64(limit))
	params.Offset = clerk.Int64(int64(offset))
	list, err := c.users.List(ctx, params)
	if err != nil {
		err = c.interpret(err)
		c.count("list_users", outcome(err))
		return nil, nil, err
	}
	c.count("list_users", "ok")

	for _, u := range list.Users {
		s, err := SnapshotFromUser(u)
		if err != nil {
			id := ""
			if u != nil {
				id = u.ID
			}
			invalid = append(invalid, id)
			continue
		}
		valid = append(valid, s)
	}
	return valid, invalid, nil
}

// CountUsers returns how many users Clerk has.
func (c *Client) CountUsers(ctx context.Context) (int, error) {
	n, err := c.users.Count(ctx, &clerkuser.ListParams{})
	if err != nil {
		err = c.interpret(err)
		c.count("count_users", outcome(err))
		return 0, err
	}
	c.count("count_users", "ok")
	return int(n.TotalCount), nil
}

// SetBanned bans or unbans the user in Clerk. It returns ErrUserNotFound
// for a user Clerk does not know, and an *UnavailableError when a retry
// may succeed.
func (c *Client) SetBanned(ctx context.Context, id string, banned bool) error {
	op, call := "unban_user", c.users.Unban
	if banned {
		op, call = "ban_user", c.users.Ban
	}
	if err := c.waitingOut(op); err != nil {
		return err
	}
	if _, err := call(ctx, id); err != nil {
		err = c.interpret(err)
		c.count(op, outcome(err))
		return err
	}
	c.count(op, "ok")
	return nil
}
