package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
)

// countRow is one scenario of part 4: what a fixed number of requests
// cost in Clerk calls and database writes.
type countRow struct {
	Scenario      string  `json:"scenario"`
	Users         int     `json:"users"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	PerSec        float64 `json:"per_second"`
	ClerkGetUser  int64   `json:"clerk_get_user"`
	ClerkJWKS     int64   `json:"clerk_jwks"`
	ClerkTotal    int64   `json:"clerk_total"`
	ClerkPerUser  float64 `json:"clerk_get_user_per_user"`
	UsersInserted int64   `json:"users_inserted"`
	UsersUpdated  int64   `json:"users_updated"`
	OtherWrites   int64   `json:"other_app_table_writes"`
	ClerkConns    int64   `json:"standin_tcp_connections"`
	StatsSettle   string  `json:"stats_settle"`
	Note          string  `json:"note,omitempty"`
}

// tableStats are cumulative pg_stat_user_tables counters of one database.
type tableStats struct {
	usersIns, usersUpd, other int64
}

func readStats(ctx context.Context, conn *pgx.Conn) (tableStats, error) {
	var s tableStats
	if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		return s, err
	}
	err := conn.QueryRow(ctx, `
		SELECT coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'users'), 0)::bigint,
		       coalesce(sum(n_tup_upd) FILTER (WHERE relname = 'users'), 0)::bigint,
		       coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del)
		           FILTER (WHERE relname <> 'users' AND relname NOT LIKE 'river%'), 0)::bigint
		FROM pg_stat_user_tables`).Scan(&s.usersIns, &s.usersUpd, &s.other)
	return s, err
}

// settle waits for the table statistics of a phase that ended at end. A
// backend publishes its counters at the end of a transaction at most once
// a second, and an idle one within 10s. So: wait a second, nudge every
// connection (a transaction each, or pg_stat_force_next_flush on our own),
// then read until the users writes match what the writer itself counted
// (want), or until -stats-settle has passed since end.
func (b *bench) settle(ctx context.Context, conn *pgx.Conn, before tableStats, want int64, end time.Time, nudge func()) (tableStats, string, error) {
	time.Sleep(time.Until(end.Add(1100 * time.Millisecond)))
	nudge()
	for {
		s, err := readStats(ctx, conn)
		if err != nil {
			return s, "", err
		}
		got := s.usersIns + s.usersUpd - before.usersIns - before.usersUpd
		waited := time.Since(end)
		if got == want {
			return s, fmt.Sprintf("matched after %.1fs", waited.Seconds()), nil
		}
		if waited > b.o.StatsSettle {
			return s, fmt.Sprintf("waited %.1fs (writer counted %d)", waited.Seconds(), want), nil
		}
		select {
		case <-ctx.Done():
			return s, "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nudgeServer has every connection of a server's pool run a transaction
// (GET /readyz pings and reads the migration table).
func (b *bench) nudgeServer(ctx context.Context, base string) func() {
	return func() {
		runLoad(ctx, b.client, 8*b.o.Concurrency, b.o.Concurrency, func(ctx context.Context, i int) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		}, nil)
	}
}

// requestSyncWrites is what the server says it wrote to users from the
// request path.
func requestSyncWrites(p promSample) int64 {
	return int64(p.sum("clerksync_user_sync_total", `source="request"`, `outcome="created"`) +
		p.sum("clerksync_user_sync_total", `source="request"`, `outcome="updated"`))
}

func (b *bench) partCounts(ctx context.Context) ([]countRow, error) {
	dbURL, err := b.freshDB(ctx, "counts")
	if err != nil {
		return nil, err
	}
	known, err := b.makeCallers(b.o.CountUsers, "k")
	if err != nil {
		return nil, err
	}
	unknown, err := b.makeCallers(b.o.CountUsers, "u")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	stats, err := readStats(ctx, conn)
	if err != nil {
		return nil, err
	}

	var rows []countRow
	// scenario runs n requests against base and measures their cost.
	// writerCount returns the users writes the writer itself counted so
	// far (server metrics or the naive handler's counter).
	scenario := func(name, note, base string, callers []caller, writerCount func() int64, nudge func()) error {
		b.emu.ResetCounts()
		conns0 := b.emuConns.Load()
		w0 := writerCount()
		build, check := getMe(base, callers, 0)
		r := runLoad(ctx, b.client, b.o.CountReqs, b.o.Concurrency, build, check)
		end := time.Now()
		row := countRow{
			Scenario: name, Note: note, Users: len(callers), Requests: r.Requests, Errors: r.Errors, PerSec: r.PerSec,
			ClerkGetUser: b.emu.Requests(clerkemu.RouteGetUser),
			ClerkJWKS:    b.emu.Requests(clerkemu.RouteJWKS),
			ClerkTotal:   b.emu.Total(),
			ClerkConns:   b.emuConns.Load() - conns0,
		}
		row.ClerkPerUser = round3(float64(row.ClerkGetUser) / float64(len(callers)))
		after, how, err := b.settle(ctx, conn, stats, writerCount()-w0, end, nudge)
		if err != nil {
			return err
		}
		row.UsersInserted = after.usersIns - stats.usersIns
		row.UsersUpdated = after.usersUpd - stats.usersUpd
		row.OtherWrites = after.other - stats.other
		row.StatsSettle = how
		stats = after
		if r.Errors > 0 {
			log.Printf("%s: %d errors, first: %s", name, r.Errors, r.FirstErr)
		}
		log.Printf("counts %-28s clerk get_user %6d jwks %d  users ins %6d upd %6d  other %d  (%s)",
			name, row.ClerkGetUser, row.ClerkJWKS, row.UsersInserted, row.UsersUpdated, row.OtherWrites, how)
		rows = append(rows, row)
		return nil
	}
	serverWrites := func(s *serverProc) func() int64 {
		return func() int64 {
			p, err := b.metrics(s, "clerksync_user_sync_total")
			if err != nil {
				return -1
			}
			return requestSyncWrites(p)
		}
	}

	mvp, err := b.startServer(ctx, "4", "counts-mvp", "mvp", dbURL)
	if err != nil {
		return nil, err
	}
	b.warmUp(ctx, mvp.base)
	// The warm-up and start-up wrote no users; take the baseline now.
	if stats, _, err = b.settle(ctx, conn, stats, 0, time.Now(), b.nudgeServer(ctx, mvp.base)); err != nil {
		b.stopServer(mvp, "")
		return nil, err
	}
	err = scenario("mvp, cold", "first requests: rows not in the database, JWKS not cached",
		mvp.base, known, serverWrites(mvp), b.nudgeServer(ctx, mvp.base))
	if err == nil {
		err = scenario("mvp, warm", "same users again within USER_SYNC_TTL",
			mvp.base, known, serverWrites(mvp), b.nudgeServer(ctx, mvp.base))
	}
	b.stopServer(mvp, "counts, mvp")
	if err != nil {
		return rows, err
	}

	prod, err := b.startServer(ctx, "4", "counts-production", "production", dbURL)
	if err != nil {
		return rows, err
	}
	b.warmUp(ctx, prod.base)
	err = scenario("production, known users", "rows already synced; new process, so JWKS fetched once",
		prod.base, known, serverWrites(prod), b.nudgeServer(ctx, prod.base))
	if err == nil {
		err = scenario("production, unknown users", "rows never synced: fallback fetch, once per user",
			prod.base, unknown, serverWrites(prod), b.nudgeServer(ctx, prod.base))
	}
	b.stopServer(prod, "counts, production")
	if err != nil {
		return rows, err
	}

	naive, err := b.startNaive(ctx, dbURL)
	if err != nil {
		return rows, err
	}
	defer naive.close()
	err = scenario("naive baseline", "SDK verify + Clerk GetUser + upsert on every request",
		naive.base, known, naive.writes.Load, func() {
			if err := naive.flushStats(ctx); err != nil {
				log.Printf("naive: %v", err)
			}
		})
	return rows, err
}
