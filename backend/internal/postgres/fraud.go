package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RecordActivity notes where a sign-up or session came from, in q's
// transaction. It does nothing for a user without a row, and once per
// dedup key.
func RecordActivity(ctx context.Context, q Querier, clerkID, kind, ipHash, domain, dedupKey string) error {
	_, err := q.Exec(ctx, `
		INSERT INTO ip_activity (clerk_user_id, kind, ip_hash, email_domain, dedup_key)
		SELECT $1, $2, NULLIF($3, ''), NULLIF($4, ''), $5
		WHERE EXISTS (SELECT 1 FROM users WHERE clerk_id = $1)
		ON CONFLICT (dedup_key) DO NOTHING`, clerkID, kind, ipHash, domain, dedupKey)
	if err != nil {
		return fmt.Errorf("record activity: %w", interpretError(err))
	}
	return nil
}

// VelocityCounts are the distinct users seen with the same IP and the
// same email domain as a user, within a window, the user included.
type VelocityCounts struct {
	FromIP     int
	SameDomain int
}

// Velocity counts, for the user's own IPs and sign-up domain, the
// distinct users seen in the window that ends at the user's latest
// activity. Anchoring the window there gives the same answer however
// late the evaluation runs.
func (db *DB) Velocity(ctx context.Context, clerkID string, window time.Duration) (VelocityCounts, error) {
	var v VelocityCounts
	err := db.Pool.QueryRow(ctx, `
		WITH mine AS (SELECT ip_hash, email_domain, occurred_at FROM ip_activity
		              WHERE clerk_user_id = $1),
		     span AS (SELECT max(occurred_at) - $2::interval AS since, max(occurred_at) AS until FROM mine)
		SELECT
		  (SELECT count(DISTINCT a.clerk_user_id) FROM ip_activity a, span
		     WHERE a.occurred_at BETWEEN span.since AND span.until
		       AND a.ip_hash IN (SELECT ip_hash FROM mine WHERE ip_hash IS NOT NULL)),
		  (SELECT count(DISTINCT a.clerk_user_id) FROM ip_activity a, span
		     WHERE a.occurred_at BETWEEN span.since AND span.until AND a.kind = 'signup'
		       AND a.email_domain IN (SELECT email_domain FROM mine WHERE email_domain IS NOT NULL))`,
		clerkID, window).Scan(&v.FromIP, &v.SameDomain)
	if err != nil {
		return v, fmt.Errorf("velocity: %w", interpretError(err))
	}
	return v, nil
}

// SignalRow is one fired rule as stored.
type SignalRow struct {
	Rule   string
	Score  int
	Detail any
}

// SaveSignals replaces the user's signals with signals, in tx.
func SaveSignals(ctx context.Context, tx pgx.Tx, clerkID string, signals []SignalRow) error {
	rules := make([]string, len(signals))
	for i, s := range signals {
		rules[i] = s.Rule
		detail, err := json.Marshal(s.Detail)
		if err != nil {
			return fmt.Errorf("encode signal: %w", err)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO fraud_signals (clerk_user_id, rule, score, detail)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (clerk_user_id, rule) DO UPDATE
			SET score = EXCLUDED.score, detail = EXCLUDED.detail, updated_at = now()`,
			clerkID, s.Rule, s.Score, string(detail))
		if err != nil {
			return fmt.Errorf("save signal: %w", interpretError(err))
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM fraud_signals
		WHERE clerk_user_id = $1 AND NOT (rule = ANY($2))`, clerkID, rules)
	if err != nil {
		return fmt.Errorf("prune signals: %w", interpretError(err))
	}
	return nil
}

// Flag is a flagged user as stored.
type Flag struct {
	ClerkUserID string     `json:"clerk_user_id"`
	Score       int        `json:"score"`
	Status      string     `json:"status"`
	Action      string     `json:"action"`
	BannedAt    *time.Time `json:"banned_at"`
	FlaggedAt   time.Time  `json:"flagged_at"`
	ResolvedAt  *time.Time `json:"resolved_at"`
	Signals     []Signal   `json:"signals"`
}

// Signal is a stored signal in a Flag.
type Signal struct {
	Rule   string          `json:"rule"`
	Score  int             `json:"score"`
	Detail json.RawMessage `json:"detail"`
}

// ErrNoFlag means the user is not flagged.
var ErrNoFlag = errors.New("user not flagged")

// UpsertFlag flags the user in tx, keeping an existing flag (and its
// resolution) but updating its score. It returns the flag as stored and
// whether it is new.
func UpsertFlag(ctx context.Context, tx pgx.Tx, clerkID string, score int, action string) (Flag, bool, error) {
	var f Flag
	var inserted bool
	err := tx.QueryRow(ctx, `
		INSERT INTO fraud_flags (clerk_user_id, score, status, action)
		VALUES ($1, $2, 'flagged', $3)
		ON CONFLICT (clerk_user_id) DO UPDATE SET score = EXCLUDED.score
		RETURNING clerk_user_id, score, status, action, banned_at, flagged_at,
		          resolved_at, (xmax = 0)`, clerkID, score, action).
		Scan(&f.ClerkUserID, &f.Score, &f.Status, &f.Action, &f.BannedAt,
			&f.FlaggedAt, &f.ResolvedAt, &inserted)
	if err != nil {
		return f, false, fmt.Errorf("flag user: %w", interpretError(err))
	}
	return f, inserted, nil
}

// MarkBanned records that the ban call succeeded.
func (db *DB) MarkBanned(ctx context.Context, clerkID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE fraud_flags SET banned_at = now()
		WHERE clerk_user_id = $1 AND banned_at IS NULL`, clerkID)
	if err != nil {
		return fmt.Errorf("mark banned: %w", interpretError(err))
	}
	return nil
}

// ResolveFlag sets a flag's status (kept or unbanned). It returns
// ErrNoFlag for a user without one.
func (db *DB) ResolveFlag(ctx context.Context, clerkID, status string) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE fraud_flags SET status = $2, resolved_at = now()
		WHERE clerk_user_id = $1`, clerkID, status)
	if err != nil {
		return fmt.Errorf("resolve flag: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrNoFlag
	}
	return nil
}

// GetFlag returns one flag with its signals, or ErrNoFlag.
func (db *DB) GetFlag(ctx context.Context, clerkID string) (Flag, error) {
	flags, err := db.ListFlags(ctx, "", clerkID, 1)
	if err != nil {
		return Flag{}, err
	}
	if len(flags) == 0 {
		return Flag{}, ErrNoFlag
	}
	return flags[0], nil
}

// ListFlags returns flags, newest first, filtered by status and user when
// they are not empty.
func (db *DB) ListFlags(ctx context.Context, status, clerkID string, limit int) ([]Flag, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT f.clerk_user_id, f.score, f.status, f.action, f.banned_at,
		       f.flagged_at, f.resolved_at,
		       coalesce((SELECT json_agg(json_build_object('rule', s.rule,
		           'score', s.score, 'detail', s.detail) ORDER BY s.rule)
		         FROM fraud_signals s WHERE s.clerk_user_id = f.clerk_user_id), '[]')
		FROM fraud_flags f
		WHERE ($1 = '' OR f.status = $1) AND ($2 = '' OR f.clerk_user_id = $2)
		ORDER BY f.flagged_at DESC LIMIT $3`, status, clerkID, limit)
	if err != nil {
		return nil, fmt.Errorf("list flags: %w", interpretError(err))
	}
	defer rows.Close()

	flags := []Flag{}
	for rows.Next() {
		var f Flag
		var signals []byte
		if err := rows.Scan(&f.ClerkUserID, &f.Score, &f.Status, &f.Action,
			&f.BannedAt, &f.FlaggedAt, &f.ResolvedAt, &signals); err != nil {
			return nil, fmt.Errorf("scan flag: %w", err)
		}
		if err := json.Unmarshal(signals, &f.Signals); err != nil {
			return nil, fmt.Errorf("decode signals: %w", err)
		}
		flags = append(flags, f)
	}
	return flags, interpretError(rows.Err())
}
