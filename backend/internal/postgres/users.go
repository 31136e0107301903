package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// lockUserSQL serialises writers of one Clerk id for the rest of the
// transaction, so a snapshot cannot slip in beside a concurrent deletion
// and resurrect the row. Statements that follow it in the same batch take
// a fresh snapshot and so see what the lock holder committed.
const lockUserSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`

// upsertUserSQL is the sync core's one write of a snapshot. It inserts a
// new user, replaces an older version, and otherwise writes nothing: a
// stale or equal version, or a tombstoned id, returns no row.
const upsertUserSQL = `
INSERT INTO users AS u (
    clerk_id, email, email_verified, first_name, last_name, username,
    image_url, public_metadata, clerk_created_at, clerk_updated_at,
    synced_at, synced_via
)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11
WHERE NOT EXISTS (SELECT 1 FROM user_tombstones WHERE clerk_id = $1)
ON CONFLICT (clerk_id) DO UPDATE SET
    email            = EXCLUDED.email,
    email_verified   = EXCLUDED.email_verified,
    first_name       = EXCLUDED.first_name,
    last_name        = EXCLUDED.last_name,
    username         = EXCLUDED.username,
    image_url        = EXCLUDED.image_url,
    public_metadata  = EXCLUDED.public_metadata,
    clerk_created_at = EXCLUDED.clerk_created_at,
    clerk_updated_at = EXCLUDED.clerk_updated_at,
    synced_at        = EXCLUDED.synced_at,
    synced_via       = EXCLUDED.synced_via
WHERE u.clerk_updated_at < EXCLUDED.clerk_updated_at
RETURNING (xmax = 0) AS inserted`

// ApplySnapshot is the sync core's write path: every source of user data
// calls it. It runs in q's transaction when q is one, and otherwise in an
// implicit transaction of its own. It returns ErrInvalidSnapshot for a
// snapshot without id or version and ErrUnavailable when a retry may
// succeed.
func ApplySnapshot(ctx context.Context, q Querier, s user.Snapshot, via user.Source) (user.Outcome, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}

	meta := s.PublicMetadata
	if len(meta) == 0 || string(meta) == "null" {
		meta = []byte("{}")
	}
	created := s.CreatedAt
	if created.IsZero() {
		created = s.UpdatedAt
	}

	b := &pgx.Batch{}
	b.Queue(lockUserSQL, s.ClerkID)
	b.Queue(upsertUserSQL, s.ClerkID, s.Email, s.EmailVerified, s.FirstName,
		s.LastName, s.Username, s.ImageURL, string(meta), created,
		s.UpdatedAt, string(via))

	var inserted bool
	err := runBatch(ctx, q, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&inserted)
	})
	switch {
	case err == nil && inserted:
		return user.OutcomeCreated, nil
	case err == nil:
		return user.OutcomeUpdated, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("apply snapshot: %w", interpretError(err))
	}

	// Nothing written: tell a tombstone from a stale version.
	deleted, err := isTombstoned(ctx, q, s.ClerkID)
	if err != nil {
		return "", err
	}
	if deleted {
		return user.OutcomeTombstoned, nil
	}
	return user.OutcomeUnchanged, nil
}

// ApplyDeletion is the sync core's deletion path: it leaves a tombstone
// and removes the user's row (rows that belong to the user go with it by
// foreign key). Deleting an unknown or already deleted id is not an error.
func ApplyDeletion(ctx context.Context, q Querier, clerkID string, via user.Source) (user.Outcome, error) {
	out, _, err := applyDeletion(ctx, q, clerkID, via)
	return out, err
}

// applyDeletion is ApplyDeletion that also reports whether a users row
// was removed.
func applyDeletion(ctx context.Context, q Querier, clerkID string, via user.Source) (user.Outcome, bool, error) {
	if !user.ValidID(clerkID) {
		return "", false, fmt.Errorf("%w: missing or overlong id", user.ErrInvalidSnapshot)
	}

	b := &pgx.Batch{}
	b.Queue(lockUserSQL, clerkID)
	b.Queue(`INSERT INTO user_tombstones (clerk_id, deleted_via) VALUES ($1, $2)
		ON CONFLICT (clerk_id) DO NOTHING`, clerkID, string(via))
	b.Queue(`DELETE FROM users WHERE clerk_id = $1`, clerkID)

	var fresh, removed bool
	err := runBatch(ctx, q, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		fresh = tag.RowsAffected() == 1
		tag, err = br.Exec()
		removed = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("apply deletion: %w", interpretError(err))
	}
	if !fresh {
		return user.OutcomeAlreadyDeleted, removed, nil
	}
	return user.OutcomeDeleted, removed, nil
}

// LockUser takes, in tx, the lock writers of clerkID hold, and reports
// whether the id is tombstoned. Paths that touch a user's rows in another
// order (replays, events about a user that are not snapshots) call it
// first, so that every path locks the user before anything else.
func LockUser(ctx context.Context, tx pgx.Tx, clerkID string) (bool, error) {
	b := &pgx.Batch{}
	b.Queue(lockUserSQL, clerkID)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM user_tombstones WHERE clerk_id = $1)`, clerkID)

	var deleted bool
	err := runBatch(ctx, tx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&deleted)
	})
	if err != nil {
		return false, fmt.Errorf("lock user: %w", interpretError(err))
	}
	return deleted, nil
}

// runBatch sends b and reads its results with read. On a pool, pgx runs
// the whole batch in one implicit transaction and one round trip.
func runBatch(ctx context.Context, q Querier, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := q.SendBatch(ctx, b)
	readErr := read(br)
	closeErr := br.Close()
	if readErr != nil {
		return readErr
	}
	return closeErr
}

func isTombstoned(ctx context.Context, q Querier, clerkID string) (bool, error) {
	var deleted bool
	err := q.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM user_tombstones WHERE clerk_id = $1)`,
		clerkID).Scan(&deleted)
	if err != nil {
		return false, fmt.Errorf("check tombstone: %w", interpretError(err))
	}
	return deleted, nil
}

const selectUserSQL = `
SELECT id, clerk_id, email, email_verified, first_name, last_name, username,
       image_url, public_metadata, clerk_created_at, clerk_updated_at,
       synced_at, synced_via, created_at
FROM users WHERE clerk_id = $1`

// GetUser returns the stored user, user.ErrDeleted for a tombstoned id, or
// user.ErrNotFound.
func (db *DB) GetUser(ctx context.Context, clerkID string) (user.User, error) {
	var u user.User
	err := db.Pool.QueryRow(ctx, selectUserSQL, clerkID).Scan(
		&u.ID, &u.ClerkID, &u.Email, &u.EmailVerified, &u.FirstName,
		&u.LastName, &u.Username, &u.ImageURL, &u.PublicMetadata,
		&u.ClerkCreatedAt, &u.ClerkUpdatedAt, &u.SyncedAt, &u.SyncedVia,
		&u.CreatedAt)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return user.User{}, fmt.Errorf("get user: %w", interpretError(err))
	}

	deleted, err := isTombstoned(ctx, db.Pool, clerkID)
	if err != nil {
		return user.User{}, err
	}
	if deleted {
		return user.User{}, user.ErrDeleted
	}
	return user.User{}, user.ErrNotFound
}

// ApplySnapshot applies s on the pool; see the package function.
func (db *DB) ApplySnapshot(ctx context.Context, s user.Snapshot, via user.Source) (user.Outcome, error) {
	return ApplySnapshot(ctx, db.Pool, s, via)
}

// ApplyDeletion applies a deletion on the pool; see the package function.
func (db *DB) ApplyDeletion(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error) {
	return ApplyDeletion(ctx, db.Pool, clerkID, via)
}
