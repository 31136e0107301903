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
		// Lock the user before the event row, in the order erasure and
		// deliveries take them, or the two could deadlock.
		peek, err := postgres.GetWebhook(ctx, tx, svixID, false)
		if err != nil {
			return err
		}
		if peek.ClerkUserID != nil {
			if _, err := postgres.LockUser(ctx, tx, *peek.ClerkUserID); err != nil {
				return err
			}
		}
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
	if ev.Type != TypeUserCreated && ev.Type != TypeUserUpdated && ev.Type != TypeUserDeleted &&
		rec.ClerkUserID != "" {
		// An event about an erased user (a late session.created) must not
		// bring back their data: check the tombstone under the user lock.
		deleted, err := postgres.LockUser(ctx, tx, rec.ClerkUserID)
		if err != nil {
			return err
		}
		if deleted {
			rec.Status, rec.Outcome, rec.Payload = StatusTombstoned, string(user.OutcomeTombstoned), nil
			return nil
		}
	}

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

// keptStrings are the payload fields whose text is kept by Redact: ids,
// kinds and states. Every other string (names, addresses, IPs, user
// agents, places, metadata, and whatever Clerk adds later) is hidden.
var keptStrings = map[string]bool{
	"id": true, "object": true, "type": true, "status": true, "strategy": true,
	"instance_id": true, "user_id": true, "client_id": true, "session_id": true,
	"primary_email_address_id": true, "primary_phone_number_id": true,
	"primary_web3_wallet_id": true, "provider": true,
}

// Redact returns payload with the text of every field outside keptStrings
// replaced; numbers, booleans and nulls stay. Invalid JSON yields nil.
func Redact(payload []byte) json.RawMessage {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return nil
	}
	b, err := json.Marshal(redact("", v))
	if err != nil {
		return nil
	}
	return b
}

func redact(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			t[k] = redact(k, val)
		}
	case []any:
		for i := range t {
			t[i] = redact(key, t[i])
		}
	case string:
		if !keptStrings[key] {
			return "[redacted]"
		}
	}
	return v
}
