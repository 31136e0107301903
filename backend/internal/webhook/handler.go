package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Statuses of a recorded event; see migrations/00002_webhook_events.sql.
const (
	StatusApplied    = "applied"
	StatusIgnored    = "ignored"
	StatusStale      = "stale"
	StatusTombstoned = "tombstoned"
	StatusFailed     = "failed"
	// StatusDuplicate is never stored: it answers a redelivery.
	StatusDuplicate = "duplicate"
)

// processTimeout keeps each delivery well inside Svix's 15 s.
const processTimeout = 10 * time.Second

// AfterApply runs in the event's transaction once its effect on the users
// table is known, to add side effects (jobs) that commit with it.
type AfterApply func(ctx context.Context, tx pgx.Tx, ev Event, rec postgres.WebhookRecord) error

// DeleteFunc applies a user.deleted in the event's transaction.
type DeleteFunc func(ctx context.Context, tx pgx.Tx, clerkID string, via user.Source) (user.Outcome, error)

// Handler receives Clerk's webhooks.
type Handler struct {
	db         *postgres.DB
	deleteUser DeleteFunc
	// hookContext prepares each event's context; identity by default.
	hookContext func(context.Context) context.Context
	verifier    *Verifier
	maxBody     int64
	metrics     *metrics.Metrics
	logger      *slog.Logger
	afterApply  []AfterApply
}

// NewHandler returns a Handler.
func NewHandler(db *postgres.DB, v *Verifier, maxBody int64, m *metrics.Metrics, logger *slog.Logger) *Handler {
	return &Handler{
		db:       db,
		verifier: v,
		maxBody:  maxBody,
		metrics:  m,
		logger:   logger,
		deleteUser: func(ctx context.Context, tx pgx.Tx, id string, via user.Source) (user.Outcome, error) {
			return postgres.ApplyDeletion(ctx, tx, id, via)
		},
	}
}

// OnDelete replaces the deletion path, to erase all of a user's data.
func (h *Handler) OnDelete(f DeleteFunc) { h.deleteUser = f }

// OnApply adds a hook that runs inside each event's transaction.
func (h *Handler) OnApply(f AfterApply) { h.afterApply = append(h.afterApply, f) }

// WithHookContext sets a function that prepares the context the hooks
// of one event share (for example to collect their jobs).
func (h *Handler) WithHookContext(f func(context.Context) context.Context) { h.hookContext = f }

// Serve is the Gin handler of POST /api/webhooks/clerk.
func (h *Handler) Serve(c *gin.Context) {
	start := time.Now()
	defer func() { h.metrics.WebhookDuration.Observe(time.Since(start).Seconds()) }()

	body, err := h.readBody(c)
	if err == nil {
		var msg Message
		msg, err = h.verifier.Verify(body, c.Request.Header)
		if err == nil {
			h.process(c, msg, body)
			return
		}
	}

	var rej *RejectError
	errors.As(err, &rej)
	h.metrics.WebhookRejections.WithLabelValues(rej.Reason).Inc()
	h.logger.WarnContext(c.Request.Context(), "webhook: delivery refused",
		"reason", rej.Reason, "svix_id", boundedID(c.Request.Header))
	status := http.StatusBadRequest
	if rej.Reason == ReasonBodyTooLarge {
		status = http.StatusRequestEntityTooLarge
	}
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{
		"code": rej.Reason, "message": rej.Err.Error(),
	}})
}

// readBody reads the exact bytes once, up to the limit.
func (h *Handler) readBody(c *gin.Context) ([]byte, error) {
	if c.Request.ContentLength > h.maxBody {
		return nil, reject(ReasonBodyTooLarge, "body over %d bytes", h.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, h.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, reject(ReasonBodyTooLarge, "body over %d bytes", h.maxBody)
	case err != nil:
		return nil, reject(ReasonUnreadableBody, "reading body: %v", err)
	case len(body) == 0:
		return nil, reject(ReasonEmptyBody, "body is empty")
	}
	return body, nil
}

// process records and applies a verified delivery, then answers: 200 once
// it is durably recorded, 503 when a retry may succeed, 500 otherwise.
func (h *Handler) process(c *gin.Context, msg Message, body []byte) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), processTimeout)
	defer cancel()
	logger := h.logger.With("svix_id", msg.ID)

	rec, err := h.apply(ctx, msg, body)
	if errors.Is(err, postgres.ErrInvalidData) {
		// PostgreSQL refused the verified data itself (a NUL character,
		// invalid UTF-8): every retry of these bytes would fail the same
		// way, so keep the event as failed, without its payload.
		rec, err = h.recordUnstorable(ctx, rec, err)
	}
	if errors.Is(err, postgres.ErrDuplicate) {
		if err := h.db.CountRedelivery(ctx, msg.ID); err != nil {
			logger.WarnContext(ctx, "webhook: counting redelivery failed", "err", err)
		}
		rec.Status = StatusDuplicate
		err = nil
	}
	if err != nil {
		h.metrics.WebhookEvents.WithLabelValues(typeLabel(rec.EventType), "error").Inc()
		logger.ErrorContext(ctx, "webhook: processing failed, sender will retry",
			"event_type", rec.EventType, "err", err)
		status, code := http.StatusInternalServerError, "internal_error"
		if errors.Is(err, postgres.ErrUnavailable) || ctx.Err() != nil {
			status, code = http.StatusServiceUnavailable, "database_unavailable"
		}
		c.AbortWithStatusJSON(status, gin.H{"error": gin.H{
			"code": code, "message": "The event was not recorded; retry later.",
		}})
		return
	}

	h.metrics.WebhookEvents.WithLabelValues(typeLabel(rec.EventType), rec.Status).Inc()
	logger.InfoContext(ctx, "webhook: processed", "event_type", rec.EventType,
		"status", rec.Status, "user_id", rec.ClerkUserID)
	c.JSON(http.StatusOK, gin.H{"status": rec.Status, "svix_id": msg.ID})
}

// apply runs the event's effect and its record in one transaction. It
// returns postgres.ErrDuplicate, rolling the effect back, when the id was
// recorded before, so that a redelivery does nothing.
func (h *Handler) apply(ctx context.Context, msg Message, body []byte) (postgres.WebhookRecord, error) {
	rec := postgres.WebhookRecord{SvixID: msg.ID, SvixTimestamp: msg.Timestamp}
	ev, err := DecodeEvent(body)
	if err != nil {
		rec.EventType, rec.Status, rec.Error = "unknown", StatusFailed, err.Error()
		if json.Valid(body) {
			rec.Payload = body
		}
		return rec, h.db.InTx(ctx, func(tx pgx.Tx) error {
			return postgres.InsertWebhook(ctx, tx, rec)
		})
	}
	rec.EventType, rec.Payload, rec.ClerkUserID = ev.Type, body, ev.SubjectUserID()

	if h.hookContext != nil {
		ctx = h.hookContext(ctx)
	}
	err = h.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := h.applyInTx(ctx, tx, ev, &rec); err != nil {
			return err
		}
		if err := postgres.InsertWebhook(ctx, tx, rec); err != nil {
			return err
		}
		return h.runHooks(ctx, tx, ev, rec)
	})
	return rec, err
}

// recordUnstorable records, with no effect and no payload, a delivery
// whose data PostgreSQL refused.
func (h *Handler) recordUnstorable(ctx context.Context, rec postgres.WebhookRecord, cause error) (postgres.WebhookRecord, error) {
	rec.EventType = storableText(rec.EventType)
	rec.ClerkUserID = storableText(rec.ClerkUserID)
	rec.Status, rec.Outcome, rec.Error, rec.Payload = StatusFailed, "", storableText(cause.Error()), nil
	return rec, h.db.InTx(ctx, func(tx pgx.Tx) error {
		return postgres.InsertWebhook(ctx, tx, rec)
	})
}

// storableText drops what a PostgreSQL text column refuses.
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// applyEvent sends user events to the sync core; other types change
// nothing and are recorded as ignored.
func (h *Handler) applyEvent(ctx context.Context, tx pgx.Tx, ev Event) (user.Outcome, error) {
	switch ev.Type {
	case TypeUserCreated, TypeUserUpdated:
		s, err := ev.UserSnapshot()
		if err != nil {
			return "", err
		}
		return postgres.ApplySnapshot(ctx, tx, s, user.SourceWebhook)
	case TypeUserDeleted:
		id, err := ev.DeletedUserID()
		if err != nil {
			return "", err
		}
		if id == "" {
			return "", nil // nothing to delete: recorded as ignored
		}
		return h.deleteUser(ctx, tx, id, user.SourceWebhook)
	}
	return "", nil
}

func statusOf(out user.Outcome) string {
	switch out {
	case "":
		return StatusIgnored
	case user.OutcomeCreated, user.OutcomeUpdated, user.OutcomeDeleted:
		return StatusApplied
	case user.OutcomeTombstoned, user.OutcomeAlreadyDeleted:
		return StatusTombstoned
	}
	return StatusStale
}

// boundedID returns the delivery's id for a log line, cut to a sane size.
func boundedID(h http.Header) string {
	id := h.Get("svix-id")
	if id == "" {
		id = h.Get("webhook-id")
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

// typeLabel bounds the metric's type label to the types Clerk documents
// for users and sessions; anything else counts as "other".
func typeLabel(t string) string {
	switch t {
	case TypeUserCreated, TypeUserUpdated, TypeUserDeleted, TypeSessionCreated:
		return t
	}
	return "other"
}
