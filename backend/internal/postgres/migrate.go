package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/clerksync/clerksync/migrations"
)

// newMigrator builds a goose provider over the embedded migrations. The
// table locker serialises instances that start at once, and works behind
// transaction-mode poolers, where session advisory locks do not.
func (db *DB) newMigrator(logger *slog.Logger) (*goose.Provider, func() error, error) {
	locker, err := lock.NewPostgresTableLocker()
	if err != nil {
		return nil, nil, fmt.Errorf("create migration lock: %w", err)
	}

	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	opts := []goose.ProviderOption{
		goose.WithLocker(locker),
		goose.WithGoMigrations(migrations.Go()...),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS, opts...)
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("create migrator: %w", err)
	}
	return p, sqlDB.Close, nil
}

// MigrateUp applies every pending migration and returns how many ran.
func (db *DB) MigrateUp(ctx context.Context, logger *slog.Logger) (int, error) {
	p, closeDB, err := db.newMigrator(logger)
	if err != nil {
		return 0, err
	}
	defer closeDB()

	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate up: %w", err)
	}
	return len(results), nil
}

// MigrateDown rolls back the newest migration.
func (db *DB) MigrateDown(ctx context.Context, logger *slog.Logger) error {
	p, closeDB, err := db.newMigrator(logger)
	if err != nil {
		return err
	}
	defer closeDB()

	if _, err := p.Down(ctx); err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// MigrationStatus writes one line per migration: applied or pending.
func (db *DB) MigrationStatus(ctx context.Context, w io.Writer) error {
	p, closeDB, err := db.newMigrator(nil)
	if err != nil {
		return err
	}
	defer closeDB()

	statuses, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		name := s.Source.Path
		if name == "" {
			name = "(Go) River job schema"
		}
		fmt.Fprintf(w, "%05d  %-40s %s\n", s.Source.Version, name, applied)
	}
	return nil
}

// MigrationsAtHead reports whether no migration is pending.
func (db *DB) MigrationsAtHead(ctx context.Context) (bool, error) {
	p, closeDB, err := db.newMigrator(nil)
	if err != nil {
		return false, err
	}
	defer closeDB()

	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, interpretError(err)
	}
	return !pending, nil
}
