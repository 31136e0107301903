package postgres

import (
	"context"
	"encoding/json"
	"fmt"
)

// exportQueries select the user's rows of each table, as JSON objects,
// without secrets (no job internals beyond kind, state and times).
var exportQueries = map[string]string{
	"webhook_events": `SELECT json_build_object('svix_id', svix_id, 'event_type', event_type,
		'status', status, 'outcome', outcome, 'error', error, 'attempts', attempts,
		'received_at', received_at, 'payload', payload)
		FROM webhook_events WHERE clerk_user_id = $1 ORDER BY received_at`,
	"analytics_events": `SELECT json_build_object('event_type', event_type,
		'occurred_at', occurred_at) FROM analytics_events
		WHERE clerk_user_id = $1 ORDER BY occurred_at`,
	"emails_sent": `SELECT json_build_object('kind', kind, 'status', status,
		'created_at', created_at) FROM emails_sent WHERE clerk_user_id = $1
		ORDER BY created_at`,
	"pending_jobs": `SELECT json_build_object('kind', kind, 'state', state,
		'scheduled_at', scheduled_at, 'attempt', attempt) FROM river_job
		WHERE args->>'clerk_user_id' = $1
		  AND state IN ('available', 'pending', 'retryable', 'scheduled', 'running')
		ORDER BY id`,
}

// UserRows returns the user's rows of each table other than users, keyed
// by table, for a data export.
func (db *DB) UserRows(ctx context.Context, clerkID string) (map[string][]map[string]any, error) {
	out := map[string][]map[string]any{}
	for name, q := range exportQueries {
		rows, err := db.collect(ctx, q, clerkID)
		if err != nil {
			return nil, fmt.Errorf("rows of %s: %w", name, interpretError(err))
		}
		out[name] = rows
	}
	return out, nil
}

func (db *DB) collect(ctx context.Context, query, clerkID string) ([]map[string]any, error) {
	rows, err := db.Pool.Query(ctx, query, clerkID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	out := []map[string]any{}
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
