package postgres

import (
	"context"
	"fmt"
	"time"
)

// EmailStatus values of emails_sent.
const (
	EmailSent           = "sent"
	EmailSkippedNoEmail = "skipped_no_email"
)

// EmailRecorded reports whether an email of kind was sent or skipped for
// the user already.
func (db *DB) EmailRecorded(ctx context.Context, clerkID, kind string) (bool, error) {
	var done bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM emails_sent
		WHERE clerk_user_id = $1 AND kind = $2)`, clerkID, kind).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("check email: %w", interpretError(err))
	}
	return done, nil
}

// RecordEmail notes that an email of kind was sent or skipped; a second
// record of the same kind is ignored.
func (db *DB) RecordEmail(ctx context.Context, clerkID, kind, status string) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO emails_sent (clerk_user_id, kind, status)
		VALUES ($1, $2, $3) ON CONFLICT (clerk_user_id, kind) DO NOTHING`,
		clerkID, kind, status)
	if err != nil {
		return fmt.Errorf("record email: %w", interpretError(err))
	}
	return nil
}

// AnalyticsEvent is one row of analytics_events.
type AnalyticsEvent struct {
	Type        string
	ClerkUserID string
	OccurredAt  time.Time
	// DedupKey makes a repeat count once: the svix id of a webhook, or
	// the user and UTC day of user_active.
	DedupKey string
}

// RecordAnalytics inserts e unless its dedup key is known. It reports
// whether a row was added.
func RecordAnalytics(ctx context.Context, q Querier, e AnalyticsEvent) (bool, error) {
	at := e.OccurredAt.UTC()
	tag, err := q.Exec(ctx, `INSERT INTO analytics_events
		(event_type, clerk_user_id, occurred_at, occurred_on, dedup_key)
		VALUES ($1, NULLIF($2, ''), $3, $4, $5)
		ON CONFLICT (dedup_key) DO NOTHING`,
		e.Type, e.ClerkUserID, at, at.Format(time.DateOnly), e.DedupKey)
	if err != nil {
		return false, fmt.Errorf("record analytics: %w", interpretError(err))
	}
	return tag.RowsAffected() == 1, nil
}

// RecordAnalytics inserts e on the pool; see the package function.
func (db *DB) RecordAnalytics(ctx context.Context, e AnalyticsEvent) (bool, error) {
	return RecordAnalytics(ctx, db.Pool, e)
}

// DailyCount is the number of events of one type on one UTC day; for
// user_active it is the number of distinct users.
type DailyCount struct {
	Day   time.Time
	Type  string
	Count int64
}

// AnalyticsCounts returns the counts per day and type from `from` to `to`,
// both included.
func (db *DB) AnalyticsCounts(ctx context.Context, from, to time.Time) ([]DailyCount, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT occurred_on, event_type,
		       CASE WHEN event_type = 'user_active'
		            THEN count(DISTINCT clerk_user_id) ELSE count(*) END
		FROM analytics_events
		WHERE occurred_on BETWEEN $1 AND $2
		GROUP BY occurred_on, event_type
		ORDER BY occurred_on, event_type`,
		from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("analytics counts: %w", interpretError(err))
	}
	defer rows.Close()

	var out []DailyCount
	for rows.Next() {
		var c DailyCount
		if err := rows.Scan(&c.Day, &c.Type, &c.Count); err != nil {
			return nil, fmt.Errorf("scan analytics: %w", err)
		}
		out = append(out, c)
	}
	return out, interpretError(rows.Err())
}

// PurgePayloads clears stored webhook bodies received before `before`, at
// most limit rows at a time, and returns how many it cleared.
func (db *DB) PurgePayloads(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `
		UPDATE webhook_events SET payload = NULL
		WHERE svix_id IN (
			SELECT svix_id FROM webhook_events
			WHERE received_at < $1 AND payload IS NOT NULL
			LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("purge payloads: %w", interpretError(err))
	}
	return tag.RowsAffected(), nil
}

// PurgeRecords deletes webhook records received before `before`, at most
// limit at a time, and returns how many it deleted. Their replays go with
// them.
func (db *DB) PurgeRecords(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `
		DELETE FROM webhook_events
		WHERE svix_id IN (
			SELECT svix_id FROM webhook_events
			WHERE received_at < $1
			ORDER BY received_at DESC, svix_id DESC
			LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("purge records: %w", interpretError(err))
	}
	return tag.RowsAffected(), nil
}
