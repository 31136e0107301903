// Package postgres is clerksync's only door to PostgreSQL: the pool, the
// migrations, and every SQL statement. Driver errors are translated into
// the user package's domain errors here and nowhere else.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB wraps the connection pool.
type DB struct {
	Pool *pgxpool.Pool
}

// Open parses the URL, connects and pings. Query execution mode, pool size
// and the like can be set in the URL (pool_max_conns,
// default_query_exec_mode); see docs/configuration.md for poolers.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "clerksync"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// Querier is what both a pool and a transaction offer; sync core
// functions take one so that a webhook can apply them inside its own
// transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// ErrUnavailable marks failures a retry may cure: the database is down,
// a connection broke, or the statement ran out of time.
var ErrUnavailable = errors.New("database unavailable")

// ErrInvalidData marks data PostgreSQL refuses whatever the moment
// (SQLSTATE class 22: a NUL character, invalid UTF-8, a value out of
// range): a retry with the same data fails the same way.
var ErrInvalidData = errors.New("data refused by the database")

// interpretError turns driver errors into the errors callers branch on.
// It is the one place that reads PostgreSQL error codes.
func interpretError(err error) error {
	if err == nil {
		return nil
	}

	// A failed connection attempt first: it may carry the server's refusal
	// as a PgError of any class ("database is not currently accepting
	// connections" is 55000, "database does not exist" 3D000), and a retry
	// can still succeed once the server lets us in.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources
			"57", // operator intervention (shutdown, statement timeout)
			"40": // serialization failure, deadlock
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case "22": // data exception
			return fmt.Errorf("%w: %w", ErrInvalidData, err)
		}
		return err
	}

	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}

	return err
}

// Querier returns the pool as a Querier, for package functions.
func (db *DB) Querier() Querier { return db.Pool }
