package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/fraud"
	"github.com/clerksync/clerksync/backend/internal/user"
)

type onboardingJSON struct {
	Steps []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
		Done bool   `json:"done"`
	} `json:"steps"`
	Percent   int     `json:"percent"`
	NextStep  *string `json:"next_step"`
	Completed bool    `json:"completed"`
}

func (h *harness) onboarding(t *testing.T, token string) onboardingJSON {
	t.Helper()
	r := h.getResp(t, "/api/me/onboarding", token)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var o onboardingJSON
	require.NoError(t, json.Unmarshal(r.Body, &o))
	return o
}

func doneSteps(o onboardingJSON) map[string]bool {
	out := map[string]bool{}
	for _, s := range o.Steps {
		out[s.Name] = s.Done
	}
	return out
}

// A user known to Clerk and the stand-in, created by webhook, with a token.
func (h *harness) webhookUser(t *testing.T, id string, fields map[string]any) string {
	t.Helper()
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.created", fields), ""))
	return h.mint(t, id, clerkemuTokenOptions())
}

func TestOnboardingFollowsNewerSnapshotsOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseProduction)

	id := "user_onb1"
	fields := withEmail(id, "onb1@example.com", "Olga", 1_000)
	token := h.webhookUser(t, id, fields)
	o := h.onboarding(t, token)
	require.Equal(t, map[string]bool{"verified_email": true, "full_name": true,
		"profile_image": true, "create_project": false}, doneSteps(o))
	require.Equal(t, 75, o.Percent)
	require.Equal(t, "create_project", *o.NextStep)

	// A newer snapshot without an image undoes the derived step.
	newer := withEmail(id, "onb1@example.com", "Olga", 3_000)
	newer["image_url"] = nil
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.updated", newer), ""))
	require.False(t, doneSteps(h.onboarding(t, token))["profile_image"])

	// An older one with the image changes nothing.
	older := withEmail(id, "onb1@example.com", "Olga", 2_000)
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.updated", older), ""))
	require.False(t, doneSteps(h.onboarding(t, token))["profile_image"])
}

func TestOnboardingAppStepsAndCompletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta, func(c *config.Config) { c.JobsEnabled = true })

	id := "user_onb2"
	token := h.webhookUser(t, id, withEmail(id, "onb2@example.com", "Omar", 1_000))
	require.Equal(t, 2, h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'onboarding_reminder' AND state = 'scheduled'`))

	requireError(t, h.do(t, http.MethodPost, "/api/me/onboarding/steps/teleport", bearer(token)),
		http.StatusNotFound, "unknown_step")
	requireError(t, h.do(t, http.MethodPost, "/api/me/onboarding/steps/full_name", bearer(token)),
		http.StatusConflict, "derived_step")

	for range 2 {
		r := h.do(t, http.MethodPost, "/api/me/onboarding/steps/create_project", bearer(token))
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	}
	o := h.onboarding(t, token)
	require.True(t, o.Completed)
	require.Equal(t, 100, o.Percent)
	require.Nil(t, o.NextStep)

	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM analytics_events WHERE event_type = 'onboarding_completed'`))
	require.Equal(t, 2, h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'onboarding_reminder' AND state = 'cancelled'`),
		"completion cancels the reminders")
}

func TestOnboardingReminderSentOnceWhenDue(t *testing.T) {
	t.Parallel()
	mb := newMailbox(t)
	h := newHarness(t, user.PhaseBeta, withMail(mb))

	id := "user_onb3"
	body := userEvent(t, "user.created", withEmail(id, "onb3@example.com", "Ola", 1_000))
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))
	waitFor(t, 10*time.Second, "the welcome email", func() bool { return len(mb.received()) == 1 })

	// The 24h reminder falls due now; the 72h one stays scheduled.
	_, err := h.pool.Exec(context.Background(), `UPDATE river_job SET scheduled_at = now()
		WHERE kind = 'onboarding_reminder' AND args->>'after' = '24h0m0s'`)
	require.NoError(t, err)
	waitFor(t, 15*time.Second, "the reminder", func() bool { return len(mb.received()) == 2 })
	require.Contains(t, mb.received()[1].Data, "Finish setting up")
	require.Contains(t, mb.received()[1].Data, "create project")

	// A redelivered user.created schedules nothing new.
	require.Equal(t, http.StatusOK, h.deliver(t, body, ""))
	require.Equal(t, 2, h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'onboarding_reminder'`))

	// Deletion cancels the remaining one and erases onboarding rows.
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.deleted", map[string]any{"id": id}), ""))
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'onboarding_reminder' AND state = 'cancelled'`))
	require.Zero(t, h.count(t, `SELECT count(*) FROM onboarding WHERE clerk_user_id = $1`, id))
	require.Zero(t, h.count(t, `SELECT count(*) FROM onboarding_steps WHERE clerk_user_id = $1`, id))
	time.Sleep(200 * time.Millisecond)
	require.Len(t, mb.received(), 2)
}

func TestOnboardingFromRequestsInMVP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP, func(c *config.Config) { c.JobsEnabled = true })

	_, token := h.createUser(t, clerkemuParams("mvp@example.com", "Mia", "Vu"))
	o := h.onboarding(t, token)
	require.True(t, doneSteps(o)["full_name"])
	require.True(t, doneSteps(o)["verified_email"])
	require.Zero(t, h.count(t, `SELECT count(*) FROM river_job WHERE kind IN ('onboarding_reminder', 'fraud_check')`),
		"nothing is scheduled in mvp")
}

// waitJobs waits until no job of kind is left to run.
func waitJobs(t *testing.T, h *harness, kind string) {
	t.Helper()
	waitFor(t, 15*time.Second, kind+" jobs", func() bool {
		return h.count(t, `SELECT count(*) FROM river_job WHERE kind = $1
			AND state NOT IN ('completed', 'cancelled', 'discarded')`, kind) == 0
	})
}

func TestFraudIPVelocityFlagsAtThreshold(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseProduction, func(c *config.Config) {
		c.JobsEnabled = true
		c.FraudThreshold, c.FraudAction, c.FraudWindow = 60, fraud.ActionFlag, time.Hour
		c.FraudIPLimit, c.FraudDomainLimit = 10, 0
		c.FraudWeights = map[string]int{"ip_velocity": 60, "disposable_email": 40, "spam_name": 30, "domain_velocity": 30}
	})

	for i := 1; i <= 10; i++ {
		id := fmt.Sprintf("user_ip%02d", i)
		body := fromIP(t, userEvent(t, "user.created", withEmail(id, id+"@corp.example", "Ivan", int64(i)*1000)), "198.51.100.77")
		require.Equal(t, http.StatusOK, h.deliver(t, body, ""))
		waitJobs(t, h, "fraud_check")
	}
	// Another IP is not affected.
	other := fromIP(t, userEvent(t, "user.created", withEmail("user_ipx", "x@corp.example", "Xu", 99_000)), "198.51.100.78")
	require.Equal(t, http.StatusOK, h.deliver(t, other, ""))
	waitJobs(t, h, "fraud_check")

	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM fraud_flags`))
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM fraud_flags WHERE clerk_user_id = 'user_ip10'`))
	require.Zero(t, h.count(t, `SELECT count(*) FROM fraud_signals WHERE clerk_user_id = 'user_ip09'`))
	require.Equal(t, 11, h.count(t, `SELECT count(*) FROM ip_activity WHERE length(ip_hash) = 64`),
		"IPs are stored keyed, never in clear")
	require.Zero(t, h.count(t, `SELECT count(*) FROM ip_activity WHERE ip_hash LIKE '%198.51%'`))
}

func TestFraudBanOncePerUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta, func(c *config.Config) {
		c.JobsEnabled = true
		c.FraudThreshold, c.FraudAction, c.FraudWindow = 40, fraud.ActionBan, time.Hour
		c.FraudWeights = map[string]int{"disposable_email": 40, "ip_velocity": 60, "spam_name": 30, "domain_velocity": 30}
	})

	// The stand-in must know the user for the ban to land.
	u, _ := h.createUser(t, clerkemuParams("bad@mailinator.com", "Bo", "Gus"))
	body := userEvent(t, "user.created", withEmail(u.ID, "bad@mailinator.com", "Bo", u.UpdatedAt))
	for range 3 {
		require.Equal(t, http.StatusOK, h.deliver(t, body, "msg_same_"+u.ID))
	}
	require.Equal(t, http.StatusOK, h.deliver(t, body, "")) // and once under another id
	waitJobs(t, h, "fraud_check")

	require.Equal(t, int64(1), h.emu.Requests("ban_user"))
	banned, _ := h.emu.User(u.ID)
	require.True(t, banned.Banned)
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM fraud_flags WHERE banned_at IS NOT NULL`))
	require.Equal(t, 1, h.count(t, `SELECT count(*) FROM fraud_signals WHERE rule = 'disposable_email'`))

	// An admin lifts it.
	_, adminToken := h.createUser(t, clerkemuAdmin())
	r := h.getResp(t, "/api/admin/fraud/flags?status=flagged", adminToken)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Contains(t, string(r.Body), u.ID)
	require.Contains(t, string(r.Body), "disposable_email")

	r = h.do(t, http.MethodPost, "/api/admin/fraud/flags/"+u.ID+"/resolve", func(req *http.Request) {
		bearer(adminToken)(req)
		req.Body = jsonBody(`{"resolution":"unban"}`)
		req.Header.Set("Content-Type", "application/json")
	})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	after, _ := h.emu.User(u.ID)
	require.False(t, after.Banned)

	r = h.do(t, http.MethodPost, "/api/admin/fraud/flags/user_nobody/resolve", func(req *http.Request) {
		bearer(adminToken)(req)
		req.Body = jsonBody(`{"resolution":"keep"}`)
	})
	requireError(t, r, http.StatusNotFound, "flag_not_found")

	// Erasure removes the user's signals and flag.
	require.Equal(t, http.StatusOK, h.deliver(t, userEvent(t, "user.deleted", map[string]any{"id": u.ID}), ""))
	require.Zero(t, h.count(t, `SELECT count(*) FROM fraud_signals WHERE clerk_user_id = $1`, u.ID))
	require.Zero(t, h.count(t, `SELECT count(*) FROM fraud_flags WHERE clerk_user_id = $1`, u.ID))
	require.Zero(t, h.count(t, `SELECT count(*) FROM ip_activity WHERE clerk_user_id = $1`, u.ID))
}

func clerkemuTokenOptions() clerkemu.TokenOptions {
	return clerkemu.TokenOptions{TTL: 10 * time.Minute}
}

func clerkemuParams(email, first, last string) clerkemu.UserParams {
	return clerkemu.UserParams{Email: &email, FirstName: &first, LastName: &last}
}

func clerkemuAdmin() clerkemu.UserParams {
	return clerkemu.UserParams{Email: ptr("root@example.com"),
		PublicMetadata: json.RawMessage(`{"role":"admin"}`)}
}

func jsonBody(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
