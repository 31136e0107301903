package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// pending collects the jobs that an event's hooks ask for, so that they
// go to the database in one statement instead of one each.
type pending struct {
	params []river.InsertManyParams
}

type pendingKey struct{}

// WithPending returns a context in which Enqueue collects jobs instead of
// inserting them; Flush inserts what was collected.
func WithPending(ctx context.Context) context.Context {
	return context.WithValue(ctx, pendingKey{}, &pending{})
}

// Enqueue inserts a job in tx, or adds it to the context's collection.
func Enqueue(ctx context.Context, client *Client, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if p, ok := ctx.Value(pendingKey{}).(*pending); ok {
		p.params = append(p.params, river.InsertManyParams{Args: args, InsertOpts: opts})
		return nil
	}
	if _, err := client.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("insert %s job: %w", args.Kind(), err)
	}
	return nil
}

// Flush inserts, in tx, the jobs collected in ctx. Unique jobs that exist
// already are skipped, as with single inserts.
func Flush(ctx context.Context, client *Client, tx pgx.Tx) error {
	p, ok := ctx.Value(pendingKey{}).(*pending)
	if !ok || len(p.params) == 0 {
		return nil
	}
	if _, err := client.InsertManyTx(ctx, tx, p.params); err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	p.params = nil
	return nil
}
