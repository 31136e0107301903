package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// PurgePayloadsArgs asks to clear webhook payloads past retention.
type PurgePayloadsArgs struct{}

// Kind names the job in River's tables.
func (PurgePayloadsArgs) Kind() string { return "purge_webhook_payloads" }

// InsertOpts keeps one purge queued at a time.
func (PurgePayloadsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// PurgeWorker clears stored webhook bodies older than Retention, and
// deletes whole records older than RecordRetention, in batches so that
// no transaction grows large.
type PurgeWorker struct {
	river.WorkerDefaults[PurgePayloadsArgs]
	DB              *postgres.DB
	Retention       time.Duration
	RecordRetention time.Duration
	Logger          *slog.Logger
}

// Work purges until nothing old is left.
func (w *PurgeWorker) Work(ctx context.Context, _ *river.Job[PurgePayloadsArgs]) error {
	now := time.Now()
	payloads, err := inBatches(ctx, func(ctx context.Context) (int64, error) {
		return w.DB.PurgePayloads(ctx, now.Add(-w.Retention), 1000)
	})
	if err != nil {
		return err
	}
	records, err := inBatches(ctx, func(ctx context.Context) (int64, error) {
		return w.DB.PurgeRecords(ctx, now.Add(-w.RecordRetention), 1000)
	})
	if err != nil {
		return err
	}
	if payloads+records > 0 {
		w.Logger.InfoContext(ctx, "jobs: webhook data purged", "payloads", payloads, "records", records)
	}
	return nil
}

// inBatches calls purge until a batch comes back short of 1000 rows.
func inBatches(ctx context.Context, purge func(context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := purge(ctx)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}
