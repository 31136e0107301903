package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// Erasure is what erasing one user removed, per table.
type Erasure struct {
	Outcome   user.Outcome
	RowCounts map[string]int64
}

// EraseUser is the deletion path with the GDPR erasure around it, in tx:
// the sync core's deletion (tombstone, users row and the rows that belong
// to it), then personal data elsewhere (emails sent, stored webhook
// payloads), analytics rows given a random pseudonym, and one erasures
// row with the counts. Run again, it changes nothing.
func EraseUser(ctx context.Context, tx pgx.Tx, clerkID string, via user.Source) (Erasure, error) {
	out, removed, err := applyDeletion(ctx, tx, clerkID, via)
	if err != nil {
		return Erasure{}, err
	}
	e := Erasure{Outcome: out, RowCounts: map[string]int64{}}
	if removed {
		e.RowCounts["users"] = 1
	}

	pseudonym := make([]byte, 16)
	rand.Read(pseudonym)
	steps := []struct {
		table, sql string
		args       []any
	}{
		{"emails_sent", `DELETE FROM emails_sent WHERE clerk_user_id = $1`, nil},
		{"webhook_events", `UPDATE webhook_events SET payload = NULL
			WHERE clerk_user_id = $1 AND payload IS NOT NULL`, nil},
		{"analytics_events", `UPDATE analytics_events
			SET clerk_user_id = $2, dedup_key = replace(dedup_key, $1, $2)
			WHERE clerk_user_id = $1`, []any{"erased_" + hex.EncodeToString(pseudonym)}},
	}
	for _, s := range steps {
		tag, err := tx.Exec(ctx, s.sql, append([]any{clerkID}, s.args...)...)
		if err != nil {
			return Erasure{}, fmt.Errorf("erase %s: %w", s.table, interpretError(err))
		}
		if n := tag.RowsAffected(); n > 0 {
			e.RowCounts[s.table] = n
		}
	}
	return e, nil
}

// RecordErasure writes the erasure record, keeping the first one.
func RecordErasure(ctx context.Context, tx pgx.Tx, clerkID string, via user.Source, counts map[string]int64) error {
	b, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("encode counts: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO erasures (clerk_user_id, erased_via, row_counts)
		VALUES ($1, $2, $3) ON CONFLICT (clerk_user_id) DO NOTHING`,
		clerkID, string(via), string(b))
	if err != nil {
		return fmt.Errorf("record erasure: %w", interpretError(err))
	}
	return nil
}
