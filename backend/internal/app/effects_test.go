package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// withMail turns the workers on and points them at mb.
func withMail(mb *mailbox) func(*config.Config) {
	return func(c *config.Config) {
		c.JobsEnabled = true
		c.MailDriver = "smtp"
		c.SMTPURL = mb.url
		c.MailFrom = "Team <team@example.com>"
		c.AppName = "Acme"
	}
}

// userEvent is Clerk's published example of eventType with data fields
// replaced by fields.
func userEvent(t testing.TB, eventType string, fields map[string]any) []byte {
	t.Helper()
	body, err := webhook.Example(eventType)
	require.NoError(t, err)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(body, &ev))
	data := ev["data"].(map[string]any)
	for k, v := range fields {
		data[k] = v
	}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

// withEmail returns the data fields of a user with one verified address.
func withEmail(id, email, first string, updatedAt int64) map[string]any {
	return map[string]any{
		"id":                       id,
		"first_name":               first,
		"last_name":                "Tester",
		"image_url":                "https://img.example.com/" + id + ".png",
		"primary_email_address_id": "idn_" + id,
		"email_addresses": []any{map[string]any{
			"id": "idn_" + id, "object": "email_address", "email_address": email,
			"verification": map[string]any{"status": "verified", "strategy": "email_code"},
		}},
		"created_at": updatedAt,
		"updated_at": updatedAt,
	}
}

// fromIP sets the event's client IP, which Clerk sends as personal data.
func fromIP(t testing.TB, body []byte, ip string) []byte {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(body, &ev))
	ev["event_attributes"] = map[string]any{"http_request": map[string]any{
		"client_ip": ip, "user_agent": "TestAgent/" + ip,
	}}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

// deliver posts body signed with the Svix library under svixID (a fresh
// one when empty) and returns the status.
func (h *harness) deliver(t testing.TB, body []byte, svixID string) int {
	t.Helper()
	if svixID == "" {
		svixID = "msg_" + randomString(t, 12)
	}
	wh, err := svix.NewWebhook(h.cfg.WebhookSigningSecrets[0])
	require.NoError(t, err)
	now := time.Now()
	sig, err := wh.Sign(svixID, now, body)
	require.NoError(t, err)
	hdr := http.Header{}
	hdr.Set("svix-id", svixID)
	hdr.Set("svix-timestamp", fmt.Sprint(now.Unix()))
	hdr.Set("svix-signature", sig)
	hdr.Set("Content-Type", "application/json")
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/webhooks/clerk", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = hdr
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, h.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestWelcomeEmailOncePerUser(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseBeta, withMail(mb))

	// Five deliveries of user.created at once, under distinct ids.
	body := userEvent(t, "user.created", withEmail("user_w1", "w1@example.com", "Wanda", 1_000))
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.Equal(t, http.StatusOK, h.deliver(t, body, ""))
		}()
	}
	wg.Wait()

	waitFor(t, 10*time.Second, "the welcome email", func() bool { return len(mb.received()) >= 1 })
	waitJobs(t, h, "welcome_email")
	msgs := mb.received()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{"w1@example.com"}, msgs[0].To)
	require.Contains(t, msgs[0].Data, "Welcome to Acme")
	require.Contains(t, msgs[0].Data, "Hi Wanda")
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM emails_sent WHERE clerk_user_id = 'user_w1' AND status = 'sent'`))
}

func TestWelcomeEmailWhenRequestSawUserFirst(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseBeta, withMail(mb))

	u, token := h.createUser(t, clerkemu.UserParams{Email: ptr("first@example.com"), FirstName: ptr("Fay")})
	status, _ := h.get(t, "/api/me", token)
	require.Equal(t, http.StatusOK, status)

	// The webhook comes later with the same version: stale, yet welcomed.
	body := userEvent(t, "user.created", withEmail(u.ID, "first@example.com", "Fay", u.UpdatedAt))
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))

	waitFor(t, 10*time.Second, "the welcome email", func() bool { return len(mb.received()) >= 1 })
	time.Sleep(300 * time.Millisecond)
	require.Len(t, mb.received(), 1)
}

func TestNoWelcomeEmailInMVP(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseMVP, withMail(mb))

	_, token := h.createUser(t, clerkemu.UserParams{Email: ptr("mvp@example.com")})
	status, _ := h.get(t, "/api/me", token)
	require.Equal(t, http.StatusOK, status)

	time.Sleep(500 * time.Millisecond)
	require.Empty(t, mb.received())
	require.Zero(t, h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'welcome_email'`))
}

func TestWelcomeSkippedWithoutEmail(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseProduction, withMail(mb))

	// Clerk's published example has no email address.
	body, err := webhook.Example("user.created")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))

	waitFor(t, 10*time.Second, "the skip record", func() bool {
		return h.count(t, `SELECT count(*) FROM emails_sent WHERE status = 'skipped_no_email'`) == 1
	})
	require.Empty(t, mb.received())
}

func TestWelcomeEmailRetriedAfterSMTPFailure(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	mb.failNext(1)
	h := newHarness(t, user.PhaseBeta, withMail(mb))

	body := userEvent(t, "user.created", withEmail("user_r1", "r1@example.com", "Rae", 5_000))
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))

	waitFor(t, 20*time.Second, "the retried email", func() bool { return len(mb.received()) == 1 })
	waitFor(t, 5*time.Second, "the job to complete on its second attempt", func() bool {
		return h.count(t, `SELECT count(*) FROM river_job
			WHERE kind = 'welcome_email' AND attempt = 2 AND state = 'completed'`) == 1
	})
	var errText string
	require.NoError(t, h.pool.QueryRow(context.Background(),
		`SELECT errors::text FROM river_job WHERE kind = 'welcome_email'`).Scan(&errText))
	require.NotContains(t, errText, "r1@example.com", "job errors must not keep the address")
}

// A process that committed the event but stopped before sending: the job
// is in the database, and the next worker to start sends it.
func TestWelcomeEmailSurvivesRestart(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	api := newHarness(t, user.PhaseBeta, withMail(mb), func(c *config.Config) { c.JobsEnabled = false })

	body := userEvent(t, "user.created", withEmail("user_s1", "s1@example.com", "Sam", 7_000))
	require.Equal(t, http.StatusOK, api.deliver(t, body, ""))
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, mb.received(), "an API-only process must not send")

	// A worker process on the same database.
	newHarness(t, user.PhaseBeta, withMail(mb), func(c *config.Config) { c.DatabaseURL = api.cfg.DatabaseURL })
	waitFor(t, 10*time.Second, "the email from the new worker", func() bool { return len(mb.received()) == 1 })
}

// scanForPersonalData searches every text and JSON column of every table
// for each needle and returns where it was found.
func (h *harness) scanForPersonalData(t testing.TB, needles ...string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `
		SELECT table_schema, table_name, column_name FROM information_schema.columns
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
		  AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED')`)
	require.NoError(t, err)
	type col struct{ schema, table, column string }
	var cols []col
	for rows.Next() {
		var c col
		require.NoError(t, rows.Scan(&c.schema, &c.table, &c.column))
		cols = append(cols, c)
	}
	require.NoError(t, rows.Err())

	var found []string
	for _, c := range cols {
		for _, n := range needles {
			q := fmt.Sprintf(`SELECT count(*) FROM %q.%q WHERE %q::text ILIKE '%%' || $1 || '%%'`,
				c.schema, c.table, c.column)
			if h.count(t, q, n) > 0 {
				found = append(found, fmt.Sprintf("%s.%s.%s has %q", c.schema, c.table, c.column, n))
			}
		}
	}
	return found
}

func TestErasureOnUserDeletedLeavesNoPersonalData(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseProduction, withMail(mb))

	id := "user_erase1"
	created := withEmail(id, "erase.me@example.com", "Eraseme", 10_000)
	require.Equal(t, http.StatusOK, h.deliver(t, fromIP(t, userEvent(t, "user.created", created), "198.51.100.7"), ""))
	updated := withEmail(id, "erase.me@example.com", "Erasemetoo", 11_000)
	require.Equal(t, http.StatusOK, h.deliver(t, fromIP(t, userEvent(t, "user.updated", updated), "198.51.100.7"), ""))
	waitFor(t, 10*time.Second, "the welcome email", func() bool { return len(mb.received()) == 1 })

	// A bystander whose data must stay.
	other := withEmail("user_keep", "keep@example.com", "Keeper", 10_000)
	require.Equal(t, http.StatusOK, h.deliver(t, fromIP(t, userEvent(t, "user.created", other), "203.0.113.9"), ""))

	needles := []string{"erase.me@example.com", "Eraseme", "img.example.com/" + id, "198.51.100.7"}
	require.NotEmpty(t, h.scanForPersonalData(t, needles...), "the scan must be able to find the data")

	deleted := fromIP(t, userEvent(t, "user.deleted", map[string]any{"id": id}), "198.51.100.7")
	require.Equal(t, http.StatusOK, h.deliver(t, deleted, ""))

	found := h.scanForPersonalData(t, "erase.me@example.com", "Eraseme", "img.example.com/"+id)
	require.Empty(t, found)
	_, ok := h.tombstone(t, id)
	require.True(t, ok)
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM erasures WHERE clerk_user_id = $1`, id))
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM users WHERE clerk_id = 'user_keep'`))
	require.NotEmpty(t, h.scanForPersonalData(t, "keep@example.com", "203.0.113.9"),
		"the bystander's data must stay")

	// The late duplicate and a stale update change nothing.
	before := h.count(t, `SELECT count(*) FROM webhook_events`)
	require.Equal(t, http.StatusOK, h.deliver(t, deleted, ""))
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.updated", withEmail(id, "erase.me@example.com", "Eraseme", 12_000)), ""))
	require.Equal(t, before+2, h.count(t, `SELECT count(*) FROM webhook_events`))
	require.Empty(t, h.scanForPersonalData(t, "erase.me@example.com", "Eraseme", "198.51.100.7"))
	_, found2 := h.row(t, id)
	require.False(t, found2)
}
