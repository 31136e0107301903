package webhook

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// ErrPayloadUnavailable means the event's body is gone (purged after
// retention, or erased with its user), so it cannot be replayed.
var ErrPayloadUnavailable = errors.New("payload no longer stored")

// ReplayResult is what a replay did.
type ReplayResult struct {
	SvixID  string `json:"svix_id"`
	Status  string `json:"status"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

// Replay runs a stored event again through the same processing as a
// delivery, in one transaction: the sync core's version and tombstone
// rules make it as idempotent as a redelivery, and side effects keep
// their unique keys. The event's status is updated and the replay
// recorded with who asked. It returns postgres.ErrWebhookNotFound or
// ErrPayloadUnavailable.
func (h *Handler) Replay(ctx context.Context, svixID, by string) (ReplayResult, error) {
	var res ReplayResult
	if h.hookContext != nil {
		ctx = h.hookContext(ctx)
	}
	err := h.db.InTx(ctx, func(tx pgx.Tx) error {
		stored, err := postgres.GetWebhook(ctx, tx, svixID, true)
		if err != nil {
			return err
		}
		if stored.Payload == nil {
			return ErrPayloadUnavailable
		}

		rec := postgres.WebhookRecord{SvixID: svixID, Payload: stored.Payload}
		ev, err := DecodeEvent(stored.Payload)
		if err != nil {
			rec.EventType, rec.Status, rec.Error = stored.EventType, StatusFailed, err.Error()
			res = resultOf(rec)
			return postgres.RecordReplay(ctx, tx, rec, by)
		}
		rec.EventType, rec.ClerkUserID = ev.Type, ev.SubjectUserID()

		if err := h.applyInTx(ctx, tx, ev, &rec); err != nil {
			return err
		}
		res = resultOf(rec)
		if err := postgres.RecordReplay(ctx, tx, rec, by); err != nil {
			return err
		}
		return h.runHooks(ctx, tx, ev, rec)
	})
	return res, err
}

// applyInTx applies ev and fills rec's status, outcome, error and payload
// as a delivery would.
func (h *Handler) applyInTx(ctx context.Context, tx pgx.Tx, ev Event, rec *postgres.WebhookRecord) error {
	out, err := h.applyEvent(ctx, tx, ev)
	switch {
	case errors.Is(err, ErrUnusable), errors.Is(err, user.ErrInvalidSnapshot):
		rec.Status, rec.Error = StatusFailed, err.Error()
	case err != nil:
		return err
	default:
		rec.Status, rec.Outcome = statusOf(out), string(out)
	}
	if ev.Type == TypeUserDeleted || rec.Status == StatusTombstoned {
		// The user is erased: keep no personal data about them, such as
		// the client IP and user agent of the event.
		rec.Payload = nil
	}
	return nil
}

func (h *Handler) runHooks(ctx context.Context, tx pgx.Tx, ev Event, rec postgres.WebhookRecord) error {
	for _, f := range h.afterApply {
		if err := f(ctx, tx, ev, rec); err != nil {
			return err
		}
	}
	return nil
}

func resultOf(r postgres.WebhookRecord) ReplayResult {
	return ReplayResult{SvixID: r.SvixID, Status: r.Status, Outcome: r.Outcome, Error: r.Error}
}

// personalKeys are the payload fields that hold personal data.
var personalKeys = map[string]bool{
	"email_address": true, "first_name": true, "last_name": true, "username": true,
	"image_url": true, "profile_image_url": true, "phone_number": true,
	"web3_wallet": true, "client_ip": true, "user_agent": true, "external_id": true,
	"birthday": true, "gender": true, "avatar_url": true, "provider_user_id": true,
	"unsafe_metadata": true, "private_metadata": true,
	"public_metadata": true,
}

// Redact returns payload with every personal field's value replaced.
// Invalid JSON yields nil.
func Redact(payload []byte) json.RawMessage {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return nil
	}
	b, err := json.Marshal(redact(v))
	if err != nil {
		return nil
	}
	return b
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if personalKeys[k] && val != nil {
				t[k] = "[redacted]"
				continue
			}
			t[k] = redact(val)
		}
	case []any:
		for i := range t {
			t[i] = redact(t[i])
		}
	}
	return v
}
