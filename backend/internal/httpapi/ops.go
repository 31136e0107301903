package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/jobs"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// OpsStore is what the operations API reads; *postgres.DB is one.
type OpsStore interface {
	ListWebhooks(ctx context.Context, f postgres.WebhookFilter) ([]postgres.WebhookEvent, error)
	WebhookReplays(ctx context.Context, svixID string) ([]postgres.Replay, error)
	FailedWebhookIDs(ctx context.Context, from, to time.Time, limit int) ([]string, error)
	ReadHealth(ctx context.Context) (postgres.Health, error)
	LatestReconcile(ctx context.Context) (*postgres.ReconcileSummary, error)
	Querier() postgres.Querier
}

// Replayer replays stored events; *webhook.Handler is one. Nil in mvp.
type Replayer interface {
	Replay(ctx context.Context, svixID, by string) (webhook.ReplayResult, error)
}

// JobAdmin lists and retries failed jobs; jobs.Admin is one.
type JobAdmin interface {
	FailedJobs(ctx context.Context, limit int) ([]jobs.JobInfo, error)
	Retry(ctx context.Context, id int64) (jobs.JobInfo, error)
}

// The ops page's session: a cookie signed by the server, granted for a
// verified admin session token, so that the page needs no Clerk script.
const (
	opsCookie     = "clerksync_ops"
	opsHeader     = "X-Clerksync-Ops"
	opsSessionTTL = 8 * time.Hour
	keyOpsSession = "ops_session"
)

// signOps returns the cookie value for the user until exp.
func (a *API) signOps(userID string, exp time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(userID + "|" + strconv.FormatInt(exp.Unix(), 10)))
	m := hmac.New(sha256.New, a.opsKey)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyOps returns the user id of a valid, unexpired cookie value.
func (a *API) verifyOps(value string) (string, bool) {
	body, sig, ok := strings.Cut(value, ".")
	if !ok || len(value) > 512 {
		return "", false
	}
	m := hmac.New(sha256.New, a.opsKey)
	m.Write([]byte(body))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", false
	}
	userID, expStr, ok := strings.Cut(string(raw), "|")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || time.Now().Unix() > exp {
		return "", false
	}
	return userID, true
}

// What the ops cookie of a request amounts to.
const (
	opsAbsent = iota
	opsValid
	opsExpired
)

// opsSession is the fallback credential of admin routes: the ops cookie.
// A state-changing request with it must carry the X-Clerksync-Ops header,
// which a cross-site form cannot send.
func (a *API) opsSession(c *gin.Context) (*clerkapi.Claims, int) {
	if !strings.HasPrefix(c.Request.URL.Path, "/api/admin/") {
		return nil, opsAbsent
	}
	cookie, err := c.Cookie(opsCookie)
	if err != nil || cookie == "" {
		return nil, opsAbsent
	}
	userID, ok := a.verifyOps(cookie)
	if !ok {
		return nil, opsExpired
	}
	c.Set(keyOpsSession, true)
	return &clerkapi.Claims{UserID: userID}, opsValid
}

func csrfSafe(c *gin.Context) bool {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return c.GetHeader(opsHeader) == "1"
}

// startOpsSession grants the ops cookie to a verified admin.
func (a *API) startOpsSession(c *gin.Context) {
	u := currentUser(c)
	exp := time.Now().Add(opsSessionTTL)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: opsCookie, Value: a.signOps(u.ClerkID, exp), Path: "/",
		Expires: exp, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https",
	})
	a.logger.InfoContext(c.Request.Context(), "ops: session started", "user_id", u.ClerkID)
	c.JSON(http.StatusOK, gin.H{"user_id": u.ClerkID, "expires_at": exp.UTC()})
}

func (a *API) endOpsSession(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: opsCookie, Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

// health reports the sync's state at a glance, with warnings for what a
// team should look at.
func (a *API) health(c *gin.Context) {
	h, err := a.ops.ReadHealth(c.Request.Context())
	if err != nil {
		a.abortErr(c, err)
		return
	}

	now := time.Now()
	out := gin.H{
		"phase":            a.config.Phase,
		"webhooks_enabled": a.config.Phase.WebhooksEnabled(),
		"last_webhook_at":  h.LastWebhookAt,
		"webhooks_last_hour": gin.H{
			"total": h.WebhooksLastHour, "failed": h.FailedLastHour,
			"failure_rate": ratio(h.FailedLastHour, h.WebhooksLastHour),
		},
		"jobs": gin.H{
			"pending": h.JobsPending, "oldest_pending_seconds": age(now, h.OldestPendingAt),
			"retryable": h.JobsRetryable, "discarded_24h": h.JobsDiscarded24h,
		},
		"fallback_fetches": a.counterTotal("clerksync_user_fallback_fetches_total"),
		"last_reconcile":   h.LastReconcile,
	}
	var since any
	if h.LastWebhookAt != nil {
		since = int64(now.Sub(*h.LastWebhookAt).Seconds())
	}
	out["seconds_since_last_webhook"] = since
	out["warnings"] = warnings(a.config.Phase.WebhooksEnabled(), now, h)
	c.JSON(http.StatusOK, out)
}

func warnings(webhooksOn bool, now time.Time, h postgres.Health) []string {
	w := []string{}
	if webhooksOn && (h.LastWebhookAt == nil || now.Sub(*h.LastWebhookAt) > time.Hour) {
		w = append(w, "No webhook verified in the last hour: check the endpoint in Clerk's dashboard and the signing secret.")
	}
	if h.WebhooksLastHour >= 10 && ratio(h.FailedLastHour, h.WebhooksLastHour) > 0.05 {
		w = append(w, "More than 5% of the last hour's webhooks failed: look at the failed events.")
	}
	if h.OldestPendingAt != nil && now.Sub(*h.OldestPendingAt) > 5*time.Minute {
		w = append(w, "Jobs have waited over 5 minutes: are workers running (JOBS_ENABLED)?")
	}
	if h.JobsDiscarded24h > 0 {
		w = append(w, fmt.Sprintf("%d job(s) gave up in the last day: see failed jobs.", h.JobsDiscarded24h))
	}
	if r := h.LastReconcile; r != nil && !r.Fixed && r.Missing+r.Stale+r.Gone > 0 {
		w = append(w, "The last reconcile found drift: run `clerksync reconcile --fix`.")
	}
	return w
}

func ratio(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func age(now time.Time, t *time.Time) any {
	if t == nil {
		return nil
	}
	return int64(now.Sub(*t).Seconds())
}

// counterTotal sums a counter family from this instance's registry.
func (a *API) counterTotal(name string) float64 {
	families, err := a.metrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var total float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			total += counterValue(m)
		}
	}
	return total
}

func counterValue(m *dto.Metric) float64 {
	if m.GetCounter() == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// listWebhooks is the event log, newest first, keyset-paged.
func (a *API) listWebhooks(c *gin.Context) {
	f, err := webhookFilter(c)
	if err != nil {
		abort(c, http.StatusBadRequest, "invalid_filter", err.Error())
		return
	}
	events, err := a.ops.ListWebhooks(c.Request.Context(), f)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	var next any
	if len(events) == f.Limit {
		last := events[len(events)-1]
		next = encodeCursor(last.ReceivedAt, last.SvixID)
	}
	c.JSON(http.StatusOK, gin.H{"events": events, "next_cursor": next})
}

const maxEventPage = 200

func webhookFilter(c *gin.Context) (postgres.WebhookFilter, error) {
	f := postgres.WebhookFilter{
		Status: c.Query("status"), Type: c.Query("type"), UserID: c.Query("user_id"), Limit: 50,
	}
	switch f.Status {
	case "", "applied", "ignored", "stale", "tombstoned", "failed":
	default:
		return f, errors.New("status must be applied, ignored, stale, tombstoned or failed")
	}
	if len(f.Type) > 100 || len(f.UserID) > 128 {
		return f, errors.New("type or user_id is too long")
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventPage {
			return f, fmt.Errorf("limit must be from 1 to %d", maxEventPage)
		}
		f.Limit = n
	}
	var err error
	if f.From, err = parseDay(c.Query("from"), false); err != nil {
		return f, fmt.Errorf("from: %w", err)
	}
	if f.To, err = parseDay(c.Query("to"), true); err != nil {
		return f, fmt.Errorf("to: %w", err)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, errors.New("to is before from")
	}
	if v := c.Query("cursor"); v != "" {
		if f.AfterTime, f.AfterID, err = decodeCursor(v); err != nil {
			return f, errors.New("cursor is not one this API gave")
		}
	}
	return f, nil
}

// parseDay reads YYYY-MM-DD (UTC) or RFC 3339; an end date covers its
// whole day.
func parseDay(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not a date (YYYY-MM-DD) or time (RFC 3339)")
	}
	return t, nil
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(s string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", err
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, "", errors.New("no separator")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, id, err
}

// getWebhook returns one event with its history. Personal data in the
// payload is redacted unless ?reveal=true, and revealing is logged.
func (a *API) getWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("svix_id")
	e, err := postgres.GetWebhook(ctx, a.ops.Querier(), id, false)
	if errors.Is(err, postgres.ErrWebhookNotFound) {
		abort(c, http.StatusNotFound, "webhook_not_found", "No event has this id.")
		return
	}
	if err != nil {
		a.abortErr(c, err)
		return
	}
	replays, err := a.ops.WebhookReplays(ctx, id)
	if err != nil {
		a.abortErr(c, err)
		return
	}

	reveal := c.Query("reveal") == "true"
	var payload any
	if e.Payload != nil {
		if reveal {
			a.logger.InfoContext(ctx, "ops: personal data revealed",
				"admin_id", currentUser(c).ClerkID, "svix_id", id)
			payload = jsonRaw(e.Payload)
		} else {
			payload = jsonRaw(webhook.Redact(e.Payload))
		}
	}

	first := gin.H{"at": e.ReceivedAt, "action": "received"}
	if len(replays) == 0 {
		first["status"] = e.Status // after a replay it is the replay's
	}
	history := []gin.H{first}
	if e.Attempts > 1 {
		history = append(history, gin.H{"at": e.LastSeenAt, "action": "redelivered",
			"status": fmt.Sprintf("%d deliveries in all", e.Attempts)})
	}
	for _, r := range replays {
		history = append(history, gin.H{"at": r.At, "action": "replayed", "by": r.By,
			"status": r.Status, "outcome": r.Outcome, "error": r.Error})
	}
	c.JSON(http.StatusOK, gin.H{
		"event": gin.H{
			"svix_id": e.SvixID, "event_type": e.EventType, "clerk_user_id": e.ClerkUserID,
			"status": e.Status, "outcome": e.Outcome, "error": e.Error,
			"attempts": e.Attempts, "received_at": e.ReceivedAt,
			"processed_at": e.ProcessedAt, "has_payload": e.HasPayload,
			"payload": payload, "payload_redacted": payload != nil && !reveal,
		},
		"history": history,
	})
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// replayWebhook runs one stored event again.
func (a *API) replayWebhook(c *gin.Context) {
	if a.replayer == nil {
		abort(c, http.StatusConflict, "webhooks_disabled", "Replays need SYNC_PHASE=beta or production.")
		return
	}
	res, err := a.replayer.Replay(c.Request.Context(), c.Param("svix_id"), currentUser(c).ClerkID)
	switch {
	case errors.Is(err, postgres.ErrWebhookNotFound):
		abort(c, http.StatusNotFound, "webhook_not_found", "No event has this id.")
	case errors.Is(err, webhook.ErrPayloadUnavailable):
		abort(c, http.StatusConflict, "payload_unavailable",
			"The event's body is no longer stored (retention or erasure), so it cannot be replayed.")
	case err != nil:
		a.abortErr(c, err)
	default:
		c.JSON(http.StatusOK, res)
	}
}

// maxBulkReplay bounds one bulk replay request, so that it ends well
// inside the server's write timeout; call again for more.
const maxBulkReplay = 100

// replayFailed replays every failed event received in a date range.
func (a *API) replayFailed(c *gin.Context) {
	if a.replayer == nil {
		abort(c, http.StatusConflict, "webhooks_disabled", "Replays need SYNC_PHASE=beta or production.")
		return
	}
	var body struct {
		Status string `json:"status"`
		From   string `json:"from"`
		To     string `json:"to"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4096)
	if err := c.ShouldBindJSON(&body); err != nil || body.Status != "failed" {
		abort(c, http.StatusBadRequest, "invalid_body",
			`The body must be {"status":"failed","from":"YYYY-MM-DD","to":"YYYY-MM-DD"}.`)
		return
	}
	from, err1 := parseDay(body.From, false)
	to, err2 := parseDay(body.To, true)
	if err1 != nil || err2 != nil || from.IsZero() || to.IsZero() || !to.After(from) {
		abort(c, http.StatusBadRequest, "invalid_filter", "from and to must be dates, from before to.")
		return
	}

	ctx := c.Request.Context()
	ids, err := a.ops.FailedWebhookIDs(ctx, from, to, maxBulkReplay)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	results := []webhook.ReplayResult{}
	for _, id := range ids {
		res, err := a.replayer.Replay(ctx, id, currentUser(c).ClerkID)
		if err != nil {
			res = webhook.ReplayResult{SvixID: id, Status: "error", Error: replayError(err)}
		}
		results = append(results, res)
	}
	c.JSON(http.StatusOK, gin.H{"count": len(results), "replayed": results})
}

func replayError(err error) string {
	if errors.Is(err, webhook.ErrPayloadUnavailable) {
		return "payload_unavailable"
	}
	return "replay failed; see the server log"
}

func (a *API) failedJobs(c *gin.Context) {
	js, err := a.jobs.FailedJobs(c.Request.Context(), 200)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"jobs": js})
}

func (a *API) retryJob(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		abort(c, http.StatusBadRequest, "invalid_job_id", "The job id must be a positive number.")
		return
	}
	j, err := a.jobs.Retry(c.Request.Context(), id)
	if errors.Is(err, jobs.ErrJobNotFound) {
		abort(c, http.StatusNotFound, "job_not_found", "No job has this id.")
		return
	}
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"job": j})
}

func (a *API) latestReconcile(c *gin.Context) {
	r, err := a.ops.LatestReconcile(c.Request.Context())
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"run": r})
}
