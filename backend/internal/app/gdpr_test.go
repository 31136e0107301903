package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/user"
)

func TestDeleteMeThenLateWebhook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)

	u, token := h.createUser(t, clerkemu.UserParams{Email: ptr("bye@example.com"), FirstName: ptr("Bye")})
	status, _ := h.get(t, "/api/me", token)
	require.Equal(t, http.StatusOK, status)

	r := h.do(t, http.MethodDelete, "/api/me", bearer(token))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	_, inClerk := h.emu.User(u.ID)
	require.False(t, inClerk, "the user must be deleted in Clerk")
	require.Equal(t, 0, h.countUsers(t))
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM erasures WHERE clerk_user_id = $1`, u.ID))

	// Clerk's user.deleted arrives later: 2xx, nothing changes.
	var before string
	require.NoError(t, h.pool.QueryRow(t.Context(),
		`SELECT row_counts::text || erased_at::text FROM erasures WHERE clerk_user_id = $1`, u.ID).Scan(&before))
	deleted := userEvent(t, "user.deleted", map[string]any{"id": u.ID})
	require.Equal(t, http.StatusOK, h.deliver(t, deleted, ""))
	var after string
	require.NoError(t, h.pool.QueryRow(t.Context(),
		`SELECT row_counts::text || erased_at::text FROM erasures WHERE clerk_user_id = $1`, u.ID).Scan(&after))
	require.Equal(t, before, after)
	require.Equal(t, 0, h.countUsers(t))

	// The same token now meets the tombstone.
	requireError(t, h.getResp(t, "/api/me", token), http.StatusUnauthorized, "user_deleted")
}

func TestDeleteMeWhenClerkIsDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)

	_, token := h.createUser(t, clerkemu.UserParams{Email: ptr("stay@example.com")})
	status, _ := h.get(t, "/api/me", token)
	require.Equal(t, http.StatusOK, status)

	h.emu.FailNext("delete_user", http.StatusInternalServerError, 1, 0)
	r := h.do(t, http.MethodDelete, "/api/me", bearer(token))
	requireError(t, r, http.StatusServiceUnavailable, "clerk_unavailable")
	require.Equal(t, 1, h.countUsers(t), "nothing is erased while Clerk keeps the user")
}

func TestExportHoldsOnlyTheCaller(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)

	u, token := h.createUser(t, clerkemu.UserParams{Email: ptr("me@example.com"), FirstName: ptr("Mina")})
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.created",
		withEmail(u.ID, "me@example.com", "Mina", u.UpdatedAt)), ""))
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.created",
		withEmail("user_other", "other@example.com", "Otto", 5)), ""))

	r := h.do(t, http.MethodGet, "/api/me/export", bearer(token))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Contains(t, r.Header.Get("Content-Disposition"), "attachment")

	var export struct {
		Profile struct {
			ClerkID string `json:"clerk_id"`
			Email   string `json:"email"`
		} `json:"profile"`
		WebhookEvents []map[string]any `json:"webhook_events"`
		Analytics     []map[string]any `json:"analytics_events"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &export))
	require.Equal(t, u.ID, export.Profile.ClerkID)
	require.Equal(t, "me@example.com", export.Profile.Email)
	require.Len(t, export.WebhookEvents, 1)
	require.NotEmpty(t, export.Analytics, "signup and activity are recorded")
	require.NotContains(t, string(r.Body), "other@example.com")
	require.NotContains(t, string(r.Body), "user_other")
	require.NotContains(t, string(r.Body), h.cfg.WebhookSigningSecrets[0])
}

func TestAnalyticsCounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseProduction)

	day := func(s string) int64 {
		ts, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return ts.UnixMilli()
	}
	// Two signups on the 1st (one at its last millisecond), one on the 2nd.
	signups := []struct{ id, at string }{
		{"user_a1", "2026-11-01T00:00:00Z"},
		{"user_a2", "2026-11-01T23:59:59.999Z"},
		{"user_a3", "2026-11-02T00:00:00Z"},
	}
	for _, s := range signups {
		body := userEvent(t, "user.created", withEmail(s.id, s.id+"@example.com", "A", day(s.at)))
		svixID := "msg_" + s.id
		require.Equal(t, http.StatusOK, h.deliver(t, body, svixID))
		// A redelivery counts once.
		require.Equal(t, http.StatusOK, h.deliver(t, body, svixID))
	}
	deleted := userEvent(t, "user.deleted", map[string]any{"id": "user_a3"})
	require.Equal(t, http.StatusOK, h.deliver(t, deleted, ""))

	// An admin, and a plain user, both active today.
	admin, adminToken := h.createUser(t, clerkemu.UserParams{
		Email: ptr("admin@example.com"), PublicMetadata: json.RawMessage(`{"role":"admin"}`)})
	_, plainToken := h.createUser(t, clerkemu.UserParams{Email: ptr("plain@example.com")})
	for range 3 {
		status, _ := h.get(t, "/api/me", plainToken)
		require.Equal(t, http.StatusOK, status)
	}

	requireError(t, h.getResp(t, "/api/admin/analytics?from=2026-11-01&to=2026-11-02", ""),
		http.StatusUnauthorized, "token_missing")
	requireError(t, h.getResp(t, "/api/admin/analytics?from=2026-11-01&to=2026-11-02", plainToken),
		http.StatusForbidden, "forbidden")
	requireError(t, h.getResp(t, "/api/admin/analytics?from=2026-11-02&to=2026-11-01", adminToken),
		http.StatusBadRequest, "invalid_date_range")
	requireError(t, h.getResp(t, "/api/admin/analytics?from=yesterday&to=2026-11-01", adminToken),
		http.StatusBadRequest, "invalid_date_range")

	var got struct {
		Days []struct {
			Date   string           `json:"date"`
			Counts map[string]int64 `json:"counts"`
		} `json:"days"`
		Totals map[string]int64 `json:"totals"`
	}
	r := h.getResp(t, "/api/admin/analytics?from=2026-11-01&to=2026-11-02", adminToken)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NoError(t, json.Unmarshal(r.Body, &got))
	require.Len(t, got.Days, 2)
	require.Equal(t, "2026-11-01", got.Days[0].Date)
	require.Equal(t, int64(2), got.Days[0].Counts["user_signed_up"])
	require.Equal(t, int64(1), got.Days[1].Counts["user_signed_up"])
	require.Equal(t, int64(3), got.Totals["signups"])

	today := time.Now().UTC().Format(time.DateOnly)
	r = h.getResp(t, "/api/admin/analytics?from="+today+"&to="+today, adminToken)
	require.Equal(t, http.StatusOK, r.Status)
	require.NoError(t, json.Unmarshal(r.Body, &got))
	require.Equal(t, int64(1), got.Totals["deletions"])
	require.Equal(t, int64(2), got.Totals["daily_active_users"], "admin and plain user, once each")
	require.True(t, strings.HasPrefix(admin.ID, "user_"))
}
