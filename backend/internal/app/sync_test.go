package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// ttl sets the sync TTL.
func ttl(d time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.UserSyncTTL = d }
}

// TestFirstRequestCreatesRow: the first authenticated call inserts the
// caller, and GET /api/me answers it in snake_case.
func TestFirstRequestCreatesRow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)
	u, tok := h.createUser(t, clerkemu.UserParams{
		Email:     ptr("ada@example.com"),
		FirstName: ptr("Ada"),
		LastName:  ptr("Lovelace"),
	})
	require.Zero(t, h.countUsers(t))

	status, body := h.get(t, "/api/me", tok)
	require.Equal(t, http.StatusOK, status, "body: %s", body)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Equal(t, u.ID, raw["clerk_id"])
	require.Equal(t, "ada@example.com", raw["email"])
	require.Equal(t, "Ada", raw["first_name"])
	require.Equal(t, "Lovelace", raw["last_name"])
	require.Equal(t, true, raw["email_verified"])
	require.Equal(t, "request", raw["synced_via"])
	for _, k := range []string{"id", "public_metadata", "clerk_created_at", "clerk_updated_at", "synced_at", "created_at"} {
		require.Contains(t, raw, k)
	}
	for _, camel := range []string{"ClerkID", "clerkId", "FirstName", "firstName"} {
		require.NotContains(t, raw, camel)
	}

	require.Equal(t, 1, h.countUsers(t))
	row := h.mustRow(t, u.ID)
	require.Equal(t, "ada@example.com", *row.Email)
	require.Equal(t, "Ada", *row.FirstName)
	require.Equal(t, "request", row.SyncedVia)
	require.Equal(t, time.UnixMilli(u.UpdatedAt).UTC(), row.ClerkUpdatedAt.UTC())
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))

	// A second call within the TTL neither asks Clerk nor writes.
	m := h.me(t, tok)
	require.Equal(t, int64(raw["id"].(float64)), m.ID)
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
	require.Equal(t, row.Xmin, h.mustRow(t, u.ID).Xmin)
	require.Equal(t, float64(1),
		h.metric(t, "clerksync_user_sync_total", `outcome="created",source="request"`))
}

// TestSyncTTL: within the TTL the stored row is served without asking
// Clerk; after it, Clerk's change arrives.
func TestSyncTTL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta, ttl(time.Second))
	u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Old")})

	start := time.Now()
	require.Equal(t, "Old", *h.me(t, tok).FirstName)
	synced := time.Now() // the row and the cache entry are at most this old
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))

	_, err := h.emu.UpdateUser(u.ID, clerkemu.UserParams{FirstName: ptr("New")})
	require.NoError(t, err)
	for range 3 {
		require.Equal(t, "Old", *h.me(t, tok).FirstName)
	}
	require.Less(t, time.Since(start), time.Second, "too slow to test within the TTL")
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser),
		"a request within the TTL asked Clerk")

	time.Sleep(time.Until(synced.Add(1200 * time.Millisecond)))
	require.Equal(t, "New", *h.me(t, tok).FirstName)
	require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
	require.Equal(t, "New", *h.mustRow(t, u.ID).FirstName)
	require.Equal(t, float64(1),
		h.metric(t, "clerksync_user_sync_total", `outcome="updated",source="request"`))

	// And the refreshed row is trusted for another TTL.
	require.Equal(t, "New", *h.me(t, tok).FirstName)
	require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
}

// TestNoWriteWhenUnchanged: a refresh that finds Clerk's user at the
// stored version asks Clerk once and writes nothing.
func TestNoWriteWhenUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta, ttl(time.Second))
	u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Same")})

	h.me(t, tok)
	synced := time.Now()
	before := h.mustRow(t, u.ID)
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))

	time.Sleep(time.Until(synced.Add(1200 * time.Millisecond)))
	require.Equal(t, "Same", *h.me(t, tok).FirstName)
	require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser),
		"after the TTL the user is checked against Clerk once")

	after := h.mustRow(t, u.ID)
	require.Equal(t, before.Xmin, after.Xmin, "an unchanged user was rewritten")
	require.Equal(t, before.SyncedAt, after.SyncedAt)
	require.Equal(t, 1, h.countUsers(t))
	require.Equal(t, float64(1),
		h.metric(t, "clerksync_user_sync_total", `outcome="unchanged",source="request"`))
	require.Zero(t,
		h.metric(t, "clerksync_user_sync_total", `outcome="updated",source="request"`))

	// The check counts as a sync: the next call within the TTL is free.
	h.me(t, tok)
	require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
}

// TestConcurrentFirstRequests: 50 simultaneous first calls of one user
// share one Clerk call and leave one row.
func TestConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)
	u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Many")})
	// Load the JWKS first (with a refused token), so that the requests
	// meet at the sync.
	forged := h.sign(t, sessionClaims(u.ID), h.emu.KeyID(), rsaKey(t))
	requireError(t, h.getResp(t, "/api/me", forged), http.StatusUnauthorized, "token_bad_signature")

	const n = 50
	var (
		wg      sync.WaitGroup
		gate    = make(chan struct{})
		results = make([]response, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			req, err := http.NewRequest(http.MethodGet, h.url+"/api/me", nil)
			if err != nil {
				results[i] = response{Status: -1, Body: []byte(err.Error())}
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := h.client.Do(req)
			if err != nil {
				results[i] = response{Status: -1, Body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			var m meJSON
			err = json.NewDecoder(resp.Body).Decode(&m)
			results[i] = response{Status: resp.StatusCode}
			if err != nil || m.ClerkID != u.ID {
				results[i].Body = []byte("bad body for " + m.ClerkID)
			}
		}()
	}
	close(gate)
	wg.Wait()

	for i, r := range results {
		require.Equal(t, http.StatusOK, r.Status, "request %d: %s", i, r.Body)
		require.Empty(t, r.Body, "request %d", i)
	}
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser),
		"concurrent first requests each asked Clerk")
	require.Equal(t, 1, h.countUsers(t))
}

// TestPrimaryEmail: the stored email is the one primary_email_address_id
// names, wherever it stands; a user without one stores null.
func TestPrimaryEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)

	t.Run("primary not first", func(t *testing.T) {
		u, tok := h.createUser(t, clerkemu.UserParams{
			Email:       ptr("primary@example.com"),
			ExtraEmails: []string{"first@example.com", "second@example.com"},
		})
		require.Equal(t, "first@example.com", u.EmailAddresses[0].EmailAddress,
			"the stand-in must list the primary address last for this test")

		m := h.me(t, tok)
		require.NotNil(t, m.Email)
		require.Equal(t, "primary@example.com", *m.Email)
		require.True(t, m.EmailVerified)
		row := h.mustRow(t, u.ID)
		require.Equal(t, "primary@example.com", *row.Email)
	})

	t.Run("no email", func(t *testing.T) {
		u, tok := h.createUser(t, clerkemu.UserParams{NoEmail: true, Username: ptr("phoneuser")})
		status, body := h.get(t, "/api/me", tok)
		require.Equal(t, http.StatusOK, status, "body: %s", body)
		var raw map[string]any
		require.NoError(t, json.Unmarshal(body, &raw))
		require.Contains(t, raw, "email")
		require.Nil(t, raw["email"])
		require.Equal(t, false, raw["email_verified"])
		row := h.mustRow(t, u.ID)
		require.Nil(t, row.Email)
		require.False(t, row.EmailVerified)
	})

	t.Run("addresses but none primary", func(t *testing.T) {
		u, tok := h.createUser(t, clerkemu.UserParams{
			NoEmail:     true,
			ExtraEmails: []string{"unverified-other@example.com"},
		})
		require.Nil(t, h.me(t, tok).Email)
		require.Nil(t, h.mustRow(t, u.ID).Email)
	})

	require.Equal(t, 3, h.countUsers(t))
}

// TestClerkDeletedUser: a verified caller Clerk answers 404 for is
// deleted: row gone, tombstone left, and no more Clerk calls for it.
func TestClerkDeletedUser(t *testing.T) {
	t.Parallel()

	t.Run("stored row, TTL expired", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseBeta, ttl(0))
		u, tok := h.createUser(t, clerkemu.UserParams{})
		h.me(t, tok)
		require.Equal(t, 1, h.countUsers(t))

		h.emu.RemoveUser(u.ID) // behind clerksync's back: no webhook
		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "user_deleted")
		_, ok := h.row(t, u.ID)
		require.False(t, ok, "the deleted user's row is still there")
		via, ok := h.tombstone(t, u.ID)
		require.True(t, ok, "no tombstone")
		require.Equal(t, "request", via)
		calls := h.emu.Requests(clerkemu.RouteGetUser)
		require.Equal(t, int64(2), calls)

		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "user_deleted")
		require.Equal(t, calls, h.emu.Requests(clerkemu.RouteGetUser),
			"a tombstoned user was looked up in Clerk again")

		// Even if Clerk served the id again, the tombstone wins.
		h.emu.CreateUser(clerkemu.UserParams{ID: u.ID})
		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "user_deleted")
		require.Zero(t, h.countUsers(t))
	})

	t.Run("never synced", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseMVP)
		u, tok := h.createUser(t, clerkemu.UserParams{})
		require.NoError(t, h.emu.DeleteUser(u.ID))

		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "user_deleted")
		_, ok := h.tombstone(t, u.ID)
		require.True(t, ok)
		require.Zero(t, h.countUsers(t))
		require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))

		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "user_deleted")
		require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
	})
}

// TestClerkUnavailable: when Clerk rate limits or fails, a caller with a
// stored row is served it (and counted); one without gets a 503 with
// Retry-After.
func TestClerkUnavailable(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name       string
		status     int
		retryAfter time.Duration
		wantRetry  int
	}{
		{"429", http.StatusTooManyRequests, 7 * time.Second, 7},
		{"500", http.StatusInternalServerError, 0, 5},
	} {
		t.Run(tc.name+" without stored row", func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, user.PhaseBeta, ttl(0))
			_, tok := h.createUser(t, clerkemu.UserParams{})
			h.emu.FailNext(clerkemu.RouteGetUser, tc.status, 1, tc.retryAfter)

			r := h.getResp(t, "/api/me", tok)
			requireError(t, r, http.StatusServiceUnavailable, "clerk_unavailable")
			secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
			require.InDelta(t, tc.wantRetry, secs, 1)
			require.Zero(t, h.countUsers(t))
			require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
			require.Zero(t, h.metric(t, "clerksync_user_stale_served_total", ""))

			if tc.status == http.StatusTooManyRequests {
				// Retry-After is honoured: no call before it ends.
				r = h.getResp(t, "/api/me", tok)
				requireError(t, r, http.StatusServiceUnavailable, "clerk_unavailable")
				require.NotEmpty(t, r.Header.Get("Retry-After"))
				require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser),
					"clerksync called Clerk again before Retry-After")
				return
			}
			// After a failure Clerk is spared for a short pause, then
			// the next call succeeds.
			r = h.getResp(t, "/api/me", tok)
			requireError(t, r, http.StatusServiceUnavailable, "clerk_unavailable")
			require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser), "called during the pause")
			time.Sleep(2100 * time.Millisecond)
			h.me(t, tok)
			require.Equal(t, 1, h.countUsers(t))
		})

		t.Run(tc.name+" with stored row", func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, user.PhaseBeta, ttl(0))
			u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Stored")})
			h.me(t, tok)
			before := h.mustRow(t, u.ID)

			_, err := h.emu.UpdateUser(u.ID, clerkemu.UserParams{FirstName: ptr("Unseen")})
			require.NoError(t, err)
			h.emu.FailNext(clerkemu.RouteGetUser, tc.status, 1, tc.retryAfter)

			m := h.me(t, tok)
			require.Equal(t, "Stored", *m.FirstName, "not the stored row")
			require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
			require.Equal(t, float64(1), h.metric(t, "clerksync_user_stale_served_total", ""))
			require.Equal(t, before.Xmin, h.mustRow(t, u.ID).Xmin)

			if tc.status == http.StatusTooManyRequests {
				// While Retry-After runs, the stored row is served
				// without calling Clerk.
				require.Equal(t, "Stored", *h.me(t, tok).FirstName)
				require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
				require.Equal(t, float64(2), h.metric(t, "clerksync_user_stale_served_total", ""))
				return
			}
			// During the pause the stored row is served without a call;
			// once Clerk answers again, the change arrives.
			require.Equal(t, "Stored", *h.me(t, tok).FirstName)
			require.Equal(t, int64(2), h.emu.Requests(clerkemu.RouteGetUser))
			time.Sleep(2100 * time.Millisecond)
			require.Equal(t, "Unseen", *h.me(t, tok).FirstName)
			require.Equal(t, int64(3), h.emu.Requests(clerkemu.RouteGetUser))
		})
	}
}

// TestProductionPhase: rows come from webhooks; requests read them and
// fetch from Clerk only for a missing row, once, if allowed.
func TestProductionPhase(t *testing.T) {
	t.Parallel()

	t.Run("stored rows are served without Clerk", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseProduction, ttl(0))

		// A row that arrived by webhook, through the sync core.
		u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Hooked")})
		snap, err := clerkapi.SnapshotFromUser(u)
		require.NoError(t, err)
		out, err := postgres.ApplySnapshot(context.Background(), h.pool, snap, user.SourceWebhook)
		require.NoError(t, err)
		require.Equal(t, user.OutcomeCreated, out)

		_, err = h.emu.UpdateUser(u.ID, clerkemu.UserParams{FirstName: ptr("NotYetHooked")})
		require.NoError(t, err)
		for range 3 {
			m := h.me(t, tok)
			require.Equal(t, "Hooked", *m.FirstName)
			require.Equal(t, "webhook", m.SyncedVia)
		}
		require.Zero(t, h.emu.Requests(clerkemu.RouteGetUser),
			"production phase asked Clerk for a stored user")
	})

	t.Run("missing row is fetched once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseProduction, ttl(0))
		u, tok := h.createUser(t, clerkemu.UserParams{FirstName: ptr("Early")})

		require.Equal(t, "Early", *h.me(t, tok).FirstName)
		require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
		require.Equal(t, "request", h.mustRow(t, u.ID).SyncedVia)
		require.Equal(t, float64(1),
			h.metric(t, "clerksync_user_fallback_fetches_total", `outcome="fetched"`))

		_, err := h.emu.UpdateUser(u.ID, clerkemu.UserParams{FirstName: ptr("Later")})
		require.NoError(t, err)
		for range 3 {
			require.Equal(t, "Early", *h.me(t, tok).FirstName)
		}
		require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser),
			"production phase asked Clerk after the fallback fetch")
		require.Equal(t, 1, h.countUsers(t))
	})

	t.Run("fallback off", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseProduction, func(c *config.Config) { c.SyncFallbackFetch = false })
		_, tok := h.createUser(t, clerkemu.UserParams{})

		r := h.getResp(t, "/api/me", tok)
		requireError(t, r, http.StatusServiceUnavailable, "user_not_synced")
		require.NotEmpty(t, r.Header.Get("Retry-After"))
		_, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.Zero(t, h.emu.Requests(clerkemu.RouteGetUser))
		require.Zero(t, h.countUsers(t))
		require.Equal(t, float64(1),
			h.metric(t, "clerksync_user_fallback_fetches_total", `outcome="disabled"`))
	})

	t.Run("sync status", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseProduction)
		status, body := h.get(t, "/api/sync/status", "")
		require.Equal(t, http.StatusOK, status)
		var s map[string]any
		require.NoError(t, json.Unmarshal(body, &s))
		require.Equal(t, "production", s["phase"])
		require.Equal(t, true, s["webhooks_enabled"])
		require.Equal(t, false, s["upsert_on_request"])
		require.NotContains(t, string(body), h.cfg.ClerkSecretKey)
		require.NotContains(t, string(body), h.cfg.WebhookSigningSecrets[0])
	})
}

// TestWebhookRouteByPhase: phase mvp does not mount the webhook route
// and says so; beta mounts it.
func TestWebhookRouteByPhase(t *testing.T) {
	t.Parallel()

	t.Run("mvp", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseMVP)
		r := h.do(t, http.MethodPost, "/api/webhooks/clerk", func(r *http.Request) {
			r.Header.Set("Content-Type", "application/json")
		})
		requireError(t, r, http.StatusNotFound, "webhooks_disabled")
		require.Contains(t, string(r.Body), "mvp")
	})

	t.Run("beta", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, user.PhaseBeta)
		// Unsigned: refused, but by the webhook handler, not as a
		// missing route.
		r := h.do(t, http.MethodPost, "/api/webhooks/clerk", nil)
		require.NotEqual(t, http.StatusNotFound, r.Status, "body: %s", r.Body)
		require.Less(t, r.Status, 500, "body: %s", r.Body)
		require.NotEqual(t, "webhooks_disabled", r.ErrorCode())
	})
}
