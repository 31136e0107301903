package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// opsHarness is a production deployment with an admin, a plain user and
// some recorded events: two applied, one failed.
type opsHarness struct {
	*harness
	admin, plain string // tokens
	failedID     string
}

func newOpsHarness(t *testing.T, mutate ...func(*config.Config)) *opsHarness {
	t.Helper()
	h := newHarness(t, user.PhaseProduction, mutate...)
	o := &opsHarness{harness: h}
	_, o.admin = h.createUser(t, clerkemuAdmin())
	_, o.plain = h.createUser(t, clerkemuParams("plain@example.com", "Pat", "Lane"))

	for i, id := range []string{"user_ops1", "user_ops2"} {
		body := fromIP(t, userEvent(t, "user.created",
			withEmail(id, id+"@example.com", "Opsy", int64(i+1)*1000)), "203.0.113.50")
		require.Equal(t, http.StatusOK, h.deliver(t, body, "msg_ok_"+id))
	}
	bad := userEvent(t, "user.created", map[string]any{"id": "user_ops3", "updated_at": nil})
	o.failedID = "msg_failed_ops3"
	require.Equal(t, http.StatusOK, h.deliver(t, bad, o.failedID))
	return o
}

func (o *opsHarness) getJSON(t *testing.T, path, token string, into any) response {
	t.Helper()
	r := o.getResp(t, path, token)
	require.Equal(t, http.StatusOK, r.Status, "%s: %s", path, r.Body)
	require.NoError(t, json.Unmarshal(r.Body, into))
	return r
}

func (o *opsHarness) post(t *testing.T, path, token, body string) response {
	t.Helper()
	return o.do(t, http.MethodPost, path, func(r *http.Request) {
		if token != "" {
			bearer(token)(r)
		}
		if body != "" {
			r.Body = jsonBody(body)
			r.Header.Set("Content-Type", "application/json")
		}
	})
}

func TestOpsRoutesNeedAnAdmin(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	for _, path := range []string{"/api/admin/health", "/api/admin/webhooks",
		"/api/admin/webhooks/" + o.failedID, "/api/admin/jobs", "/api/admin/reconcile/latest"} {
		requireError(t, o.getResp(t, path, ""), http.StatusUnauthorized, "token_missing")
		r := o.getResp(t, path, o.plain)
		requireError(t, r, http.StatusForbidden, "forbidden")
		require.NotContains(t, string(r.Body), "user_ops1")
	}
	requireError(t, o.post(t, "/api/admin/webhooks/"+o.failedID+"/replay", o.plain, ""),
		http.StatusForbidden, "forbidden")
}

func TestEventLogFiltersAndPages(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	type page struct {
		Events []struct {
			SvixID string `json:"svix_id"`
			Status string `json:"status"`
		} `json:"events"`
		NextCursor *string `json:"next_cursor"`
	}
	var failed page
	o.getJSON(t, "/api/admin/webhooks?status=failed", o.admin, &failed)
	require.Len(t, failed.Events, 1)
	require.Equal(t, o.failedID, failed.Events[0].SvixID)

	// Keyset pages of one cover every event once.
	seen := map[string]bool{}
	path := "/api/admin/webhooks?limit=1"
	for range 10 {
		var p page
		o.getJSON(t, path, o.admin, &p)
		for _, e := range p.Events {
			require.False(t, seen[e.SvixID], "event %s on two pages", e.SvixID)
			seen[e.SvixID] = true
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/admin/webhooks?limit=1&cursor=" + *p.NextCursor
	}
	require.Len(t, seen, 3)

	today := time.Now().UTC().Format(time.DateOnly)
	var byDay page
	o.getJSON(t, "/api/admin/webhooks?from="+today+"&to="+today+"&user_id=user_ops2", o.admin, &byDay)
	require.Len(t, byDay.Events, 1)

	for _, q := range []string{"status=bogus", "from=yesterday", "limit=100000", "limit=0",
		"cursor=bm9wZQ", "from=2026-12-02&to=2026-12-01", "user_id=" + strings.Repeat("x", 200)} {
		requireError(t, o.getResp(t, "/api/admin/webhooks?"+q, o.admin), http.StatusBadRequest, "invalid_filter")
	}
}

func TestEventDetailRedactsUnlessRevealed(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	r := o.getResp(t, "/api/admin/webhooks/msg_ok_user_ops1", o.admin)
	require.Equal(t, http.StatusOK, r.Status)
	require.NotContains(t, string(r.Body), "user_ops1@example.com")
	require.NotContains(t, string(r.Body), "203.0.113.50")
	require.Contains(t, string(r.Body), `"payload_redacted":true`)

	r = o.getResp(t, "/api/admin/webhooks/msg_ok_user_ops1?reveal=true", o.admin)
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "user_ops1@example.com")

	requireError(t, o.getResp(t, "/api/admin/webhooks/msg_nope", o.admin), http.StatusNotFound, "webhook_not_found")
}

func TestReplay(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	var res struct {
		Status string `json:"status"`
	}
	r := o.post(t, "/api/admin/webhooks/msg_ok_user_ops1/replay", o.admin, "")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NoError(t, json.Unmarshal(r.Body, &res))
	require.Equal(t, "stale", res.Status, "a replay is as idempotent as a redelivery")

	r = o.post(t, "/api/admin/webhooks/"+o.failedID+"/replay", o.admin, "")
	require.Equal(t, http.StatusOK, r.Status)
	require.NoError(t, json.Unmarshal(r.Body, &res))
	require.Equal(t, "failed", res.Status)

	var detail struct {
		History []struct {
			Action string `json:"action"`
		} `json:"history"`
	}
	o.getJSON(t, "/api/admin/webhooks/"+o.failedID, o.admin, &detail)
	require.Equal(t, "replayed", detail.History[len(detail.History)-1].Action)

	requireError(t, o.post(t, "/api/admin/webhooks/msg_nope/replay", o.admin, ""),
		http.StatusNotFound, "webhook_not_found")

	// After erasure the user's events have no body left to replay, and
	// nothing personal comes back.
	require.Equal(t, http.StatusOK, o.deliver(t, userEvent(t, "user.deleted", map[string]any{"id": "user_ops2"}), ""))
	r = o.post(t, "/api/admin/webhooks/msg_ok_user_ops2/replay", o.admin, "")
	requireError(t, r, http.StatusConflict, "payload_unavailable")
	require.NotContains(t, string(r.Body), "user_ops2@example.com")
	r = o.getResp(t, "/api/admin/webhooks/msg_ok_user_ops2?reveal=true", o.admin)
	require.NotContains(t, string(r.Body), "user_ops2@example.com")

	today := time.Now().UTC().Format(time.DateOnly)
	var batch struct {
		Count int `json:"count"`
	}
	r = o.post(t, "/api/admin/webhooks/replay", o.admin, fmt.Sprintf(`{"status":"failed","from":%q,"to":%q}`, today, today))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NoError(t, json.Unmarshal(r.Body, &batch))
	require.Equal(t, 1, batch.Count)
	requireError(t, o.post(t, "/api/admin/webhooks/replay", o.admin, `{"status":"applied"}`),
		http.StatusBadRequest, "invalid_body")
}

func TestOpsCookieSession(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	requireError(t, o.post(t, "/ops/session", o.plain, ""), http.StatusForbidden, "forbidden")
	r := o.post(t, "/ops/session", o.admin, "")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "clerksync_ops" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, cookie.SameSite)

	withCookie := func(v string, header bool) func(*http.Request) {
		return func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "clerksync_ops", Value: v})
			if header {
				r.Header.Set("X-Clerksync-Ops", "1")
			}
		}
	}
	require.Equal(t, http.StatusOK, o.do(t, http.MethodGet, "/api/admin/health", withCookie(cookie.Value, false)).Status)
	requireError(t, o.do(t, http.MethodPost, "/api/admin/webhooks/"+o.failedID+"/replay", withCookie(cookie.Value, false)),
		http.StatusForbidden, "csrf_check_failed")
	require.Equal(t, http.StatusOK,
		o.do(t, http.MethodPost, "/api/admin/webhooks/"+o.failedID+"/replay", withCookie(cookie.Value, true)).Status)

	tampered := cookie.Value[:len(cookie.Value)-2] + "xx"
	requireError(t, o.do(t, http.MethodGet, "/api/admin/health", withCookie(tampered, false)),
		http.StatusUnauthorized, "ops_session_expired")
	requireError(t, o.do(t, http.MethodGet, "/api/me", withCookie(cookie.Value, false)),
		http.StatusUnauthorized, "token_missing")
}

func TestHealthAndFailedJobs(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t, func(c *config.Config) { c.JobsEnabled = true })

	var h struct {
		Phase            string `json:"phase"`
		SecondsSinceLast *int64 `json:"seconds_since_last_webhook"`
		LastHour         struct {
			Total  int `json:"total"`
			Failed int `json:"failed"`
		} `json:"webhooks_last_hour"`
		Warnings []string `json:"warnings"`
	}
	o.getJSON(t, "/api/admin/health", o.admin, &h)
	require.Equal(t, "production", h.Phase)
	require.NotNil(t, h.SecondsSinceLast)
	require.Equal(t, 3, h.LastHour.Total)
	require.Equal(t, 1, h.LastHour.Failed)

	// A job that gave up, as one does after its last attempt.
	waitJobs(t, o.harness, "welcome_email")
	var id int64
	require.NoError(t, o.pool.QueryRow(context.Background(), `UPDATE river_job
		SET state = 'discarded', finalized_at = now(),
		    errors = ARRAY['{"at":"2026-12-03T00:00:00Z","attempt":1,"error":"smtp: 535 auth failed"}'::jsonb]
		WHERE id = (SELECT min(id) FROM river_job WHERE kind = 'welcome_email') RETURNING id`).Scan(&id))

	var jobs struct {
		Jobs []struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		} `json:"jobs"`
	}
	o.getJSON(t, "/api/admin/jobs", o.admin, &jobs)
	require.Len(t, jobs.Jobs, 1)
	require.Equal(t, id, jobs.Jobs[0].ID)

	o.getJSON(t, "/api/admin/health", o.admin, &h)
	require.NotEmpty(t, h.Warnings)

	r := o.post(t, fmt.Sprintf("/api/admin/jobs/%d/retry", id), o.admin, "")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	requireError(t, o.post(t, "/api/admin/jobs/999999/retry", o.admin, ""), http.StatusNotFound, "job_not_found")
	requireError(t, o.post(t, "/api/admin/jobs/abc/retry", o.admin, ""), http.StatusBadRequest, "invalid_job_id")

	metrics := o.getResp(t, "/metrics", "")
	require.Contains(t, string(metrics.Body), `clerksync_webhook_events_last_hour{status="failed"} 1`)
}

// Replays and erasures of the same user lock in the same order: racing
// each other they never deadlock.
func TestReplayRacingErasure(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	for i := range 15 {
		id := fmt.Sprintf("user_race%02d", i)
		svixID := "msg_race_" + id
		require.Equal(t, http.StatusOK, o.deliver(t, userEvent(t, "user.created",
			withEmail(id, id+"@example.com", "Race", 5000)), svixID))

		var wg sync.WaitGroup
		var replay, erase int
		wg.Add(2)
		go func() {
			defer wg.Done()
			replay = o.post(t, "/api/admin/webhooks/"+svixID+"/replay", o.admin, "").Status
		}()
		go func() {
			defer wg.Done()
			erase = o.deliver(t, userEvent(t, "user.deleted", map[string]any{"id": id}), "")
		}()
		wg.Wait()
		require.Equal(t, http.StatusOK, erase, "round %d", i)
		require.Contains(t, []int{http.StatusOK, http.StatusConflict}, replay, "round %d", i)
	}
}
