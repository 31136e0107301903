package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebhookFilter narrows the event log. Zero fields do not filter.
type WebhookFilter struct {
	Status string
	Type   string
	UserID string
	From   time.Time
	To     time.Time // exclusive
	Limit  int
	// After continues a listing below this (received_at, svix_id).
	AfterTime time.Time
	AfterID   string
}

// WebhookEvent is one row of the event log.
type WebhookEvent struct {
	SvixID      string    `json:"svix_id"`
	EventType   string    `json:"event_type"`
	ClerkUserID *string   `json:"clerk_user_id"`
	Status      string    `json:"status"`
	Outcome     *string   `json:"outcome"`
	Error       *string   `json:"error"`
	Attempts    int       `json:"attempts"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	HasPayload  bool      `json:"has_payload"`
	Payload     []byte    `json:"-"`
}

const webhookColumns = `svix_id, event_type, clerk_user_id, status, outcome, error,
	attempts, received_at, processed_at, last_seen_at, payload IS NOT NULL`

func scanWebhook(row pgx.Row, e *WebhookEvent, extra ...any) error {
	return row.Scan(append([]any{&e.SvixID, &e.EventType, &e.ClerkUserID, &e.Status,
		&e.Outcome, &e.Error, &e.Attempts, &e.ReceivedAt, &e.ProcessedAt,
		&e.LastSeenAt, &e.HasPayload}, extra...)...)
}

// ListWebhooks returns events newest first, keyset-paged.
func (db *DB) ListWebhooks(ctx context.Context, f WebhookFilter) ([]WebhookEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhook_events
		WHERE ($1 = '' OR status = $1)
		  AND ($2 = '' OR event_type = $2)
		  AND ($3 = '' OR clerk_user_id = $3)
		  AND ($4::timestamptz IS NULL OR received_at >= $4)
		  AND ($5::timestamptz IS NULL OR received_at < $5)
		  AND ($6::timestamptz IS NULL OR (received_at, svix_id) < ($6, $7))
		ORDER BY received_at DESC, svix_id DESC
		LIMIT $8`,
		f.Status, f.Type, f.UserID, nullTime(f.From), nullTime(f.To),
		nullTime(f.AfterTime), f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", interpretError(err))
	}
	defer rows.Close()

	out := []WebhookEvent{}
	for rows.Next() {
		var e WebhookEvent
		if err := scanWebhook(rows, &e); err != nil {
			return nil, fmt.Errorf("scan webhook: %w", err)
		}
		out = append(out, e)
	}
	return out, interpretError(rows.Err())
}

// ErrWebhookNotFound means no event has that svix id.
var ErrWebhookNotFound = errors.New("webhook event not found")

// GetWebhook returns one event with its payload, or ErrWebhookNotFound.
func GetWebhook(ctx context.Context, q Querier, svixID string, forUpdate bool) (WebhookEvent, error) {
	lock := ""
	if forUpdate {
		lock = " FOR UPDATE"
	}
	var e WebhookEvent
	err := scanWebhook(q.QueryRow(ctx, `SELECT `+webhookColumns+`, payload
		FROM webhook_events WHERE svix_id = $1`+lock, svixID), &e, &e.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrWebhookNotFound
	}
	if err != nil {
		return e, fmt.Errorf("get webhook: %w", interpretError(err))
	}
	return e, nil
}

// Replay is one replay of an event.
type Replay struct {
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Status  string    `json:"status"`
	Outcome *string   `json:"outcome"`
	Error   *string   `json:"error"`
}

// WebhookReplays returns the event's replays, oldest first.
func (db *DB) WebhookReplays(ctx context.Context, svixID string) ([]Replay, error) {
	rows, err := db.Pool.Query(ctx, `SELECT replayed_at, replayed_by, status, outcome, error
		FROM webhook_replays WHERE svix_id = $1 ORDER BY replayed_at`, svixID)
	if err != nil {
		return nil, fmt.Errorf("webhook replays: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Replay])
	if err != nil {
		return nil, fmt.Errorf("webhook replays: %w", interpretError(err))
	}
	return out, nil
}

// RecordReplay stores the new result of a replayed event and its replay
// row, in tx. payload replaces the stored one (nil clears it).
func RecordReplay(ctx context.Context, tx pgx.Tx, r WebhookRecord, by string) error {
	_, err := tx.Exec(ctx, `UPDATE webhook_events
		SET status = $2, outcome = NULLIF($3, ''), error = NULLIF($4, ''),
		    payload = $5, processed_at = now()
		WHERE svix_id = $1`, r.SvixID, r.Status, r.Outcome, r.Error, nullJSON(r.Payload))
	if err != nil {
		return fmt.Errorf("update replayed webhook: %w", interpretError(err))
	}
	_, err = tx.Exec(ctx, `INSERT INTO webhook_replays (svix_id, replayed_by, status, outcome, error)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''))`, r.SvixID, by, r.Status, r.Outcome, r.Error)
	if err != nil {
		return fmt.Errorf("record replay: %w", interpretError(err))
	}
	return nil
}

// FailedWebhookIDs returns the ids of failed events received in
// [from, to), oldest first, at most limit.
func (db *DB) FailedWebhookIDs(ctx context.Context, from, to time.Time, limit int) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT svix_id FROM webhook_events
		WHERE status = 'failed' AND received_at >= $1 AND received_at < $2
		ORDER BY received_at LIMIT $3`, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("failed webhooks: %w", interpretError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("failed webhooks: %w", interpretError(err))
	}
	return ids, nil
}

// Health is what the sync's health is read from.
type Health struct {
	LastWebhookAt    *time.Time
	WebhooksLastHour int
	FailedLastHour   int
	JobsPending      int
	OldestPendingAt  *time.Time
	JobsRetryable    int
	JobsDiscarded24h int
	LastReconcile    *ReconcileSummary
}

// ReconcileSummary is the newest reconcile run.
type ReconcileSummary struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	ClerkUsers int       `json:"clerk_users"`
	LocalUsers int       `json:"local_users"`
	Missing    int       `json:"missing"`
	Stale      int       `json:"stale"`
	Gone       int       `json:"gone"`
	Fixed      bool      `json:"fixed"`
}

// ReadHealth gathers the health figures in one round of queries.
func (db *DB) ReadHealth(ctx context.Context) (Health, error) {
	var h Health
	err := db.Pool.QueryRow(ctx, `
		SELECT (SELECT max(received_at) FROM webhook_events),
		       (SELECT count(*) FROM webhook_events WHERE received_at > now() - interval '1 hour'),
		       (SELECT count(*) FROM webhook_events WHERE received_at > now() - interval '1 hour'
		          AND status = 'failed'),
		       (SELECT count(*) FROM river_job WHERE state IN ('available', 'pending')
		          OR (state = 'scheduled' AND scheduled_at <= now())),
		       (SELECT min(scheduled_at) FROM river_job WHERE state IN ('available', 'pending')
		          OR (state = 'scheduled' AND scheduled_at <= now())),
		       (SELECT count(*) FROM river_job WHERE state = 'retryable'),
		       (SELECT count(*) FROM river_job WHERE state = 'discarded'
		          AND finalized_at > now() - interval '1 day')`).
		Scan(&h.LastWebhookAt, &h.WebhooksLastHour, &h.FailedLastHour, &h.JobsPending,
			&h.OldestPendingAt, &h.JobsRetryable, &h.JobsDiscarded24h)
	if err != nil {
		return h, fmt.Errorf("read health: %w", interpretError(err))
	}
	h.LastReconcile, err = db.LatestReconcile(ctx)
	return h, err
}

// LatestReconcile returns the newest reconcile run, or nil.
func (db *DB) LatestReconcile(ctx context.Context) (*ReconcileSummary, error) {
	var r ReconcileSummary
	err := db.Pool.QueryRow(ctx, `SELECT started_at, finished_at, clerk_users, local_users,
		missing, stale, gone, fixed FROM reconcile_runs ORDER BY id DESC LIMIT 1`).
		Scan(&r.StartedAt, &r.FinishedAt, &r.ClerkUsers, &r.LocalUsers, &r.Missing,
			&r.Stale, &r.Gone, &r.Fixed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest reconcile: %w", interpretError(err))
	}
	return &r, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
