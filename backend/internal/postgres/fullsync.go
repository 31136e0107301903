package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoint is a backfill's progress.
type Checkpoint struct {
	Name       string
	NextOffset int
	Created    int
	Updated    int
	Unchanged  int
	Skipped    int
	StartedAt  time.Time
	FinishedAt *time.Time
}

// LoadCheckpoint returns the named checkpoint, or a fresh one.
func (db *DB) LoadCheckpoint(ctx context.Context, name string) (Checkpoint, error) {
	c := Checkpoint{Name: name}
	err := db.Pool.QueryRow(ctx, `SELECT next_offset, created, updated, unchanged,
		skipped, started_at, finished_at FROM backfill_checkpoints WHERE name = $1`, name).
		Scan(&c.NextOffset, &c.Created, &c.Updated, &c.Unchanged, &c.Skipped,
			&c.StartedAt, &c.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{Name: name, StartedAt: time.Now()}, nil
	}
	if err != nil {
		return c, fmt.Errorf("load checkpoint: %w", interpretError(err))
	}
	return c, nil
}

// SaveCheckpoint stores c.
func (db *DB) SaveCheckpoint(ctx context.Context, c Checkpoint) error {
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO backfill_checkpoints (name, next_offset, created, updated,
			unchanged, skipped, started_at, updated_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
		ON CONFLICT (name) DO UPDATE SET next_offset = EXCLUDED.next_offset,
			created = EXCLUDED.created, updated = EXCLUDED.updated,
			unchanged = EXCLUDED.unchanged, skipped = EXCLUDED.skipped,
			updated_at = now(), finished_at = EXCLUDED.finished_at`,
		c.Name, c.NextOffset, c.Created, c.Updated, c.Unchanged, c.Skipped,
		c.StartedAt, c.FinishedAt)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", interpretError(err))
	}
	return nil
}

// DeleteCheckpoint forgets the named checkpoint, to start over.
func (db *DB) DeleteCheckpoint(ctx context.Context, name string) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM backfill_checkpoints WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete checkpoint: %w", interpretError(err))
	}
	return nil
}

// UserVersions returns every stored user's Clerk updated_at, by id.
func (db *DB) UserVersions(ctx context.Context) (map[string]time.Time, error) {
	rows, err := db.Pool.Query(ctx, `SELECT clerk_id, clerk_updated_at FROM users`)
	if err != nil {
		return nil, fmt.Errorf("user versions: %w", interpretError(err))
	}
	defer rows.Close()

	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var v time.Time
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("scan version: %w", err)
		}
		out[id] = v
	}
	return out, interpretError(rows.Err())
}

// Tombstoned returns which of ids are tombstoned.
func (db *DB) Tombstoned(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := db.Pool.Query(ctx,
		`SELECT clerk_id FROM user_tombstones WHERE clerk_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("tombstones: %w", interpretError(err))
	}
	defer rows.Close()

	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan tombstone: %w", err)
		}
		out[id] = true
	}
	return out, interpretError(rows.Err())
}

// ReconcileRun is the summary of one reconcile stored for operations.
type ReconcileRun struct {
	StartedAt  time.Time
	ClerkUsers int
	LocalUsers int
	Missing    int
	Stale      int
	Gone       int
	Fixed      bool
	Report     any
}

// RecordReconcile stores a run's summary.
func (db *DB) RecordReconcile(ctx context.Context, r ReconcileRun) error {
	report, err := json.Marshal(r.Report)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = db.Pool.Exec(ctx, `INSERT INTO reconcile_runs (started_at, clerk_users,
		local_users, missing, stale, gone, fixed, report)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.StartedAt, r.ClerkUsers, r.LocalUsers, r.Missing, r.Stale, r.Gone,
		r.Fixed, string(report))
	if err != nil {
		return fmt.Errorf("record reconcile: %w", interpretError(err))
	}
	return nil
}
