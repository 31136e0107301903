package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// whEvent is one Clerk webhook delivery: its body and, once signed, the
// Svix headers.
type whEvent struct {
	userID string
	typ    string
	body   []byte
	hdr    http.Header
}

// expUser is what the users table must hold for one user at the end.
type expUser struct {
	version int64 // Clerk updated_at, ms
	first   string
}

// makeEvents builds n events for n*3/4 distinct users: every user gets a
// user.created (version v, first_name "v1"), and the first quarter also a
// user.updated (version v+60s, first_name "v2"). They are shuffled, so an
// update often arrives before its creation and the creation is then
// stale.
func (b *bench) makeEvents(n int, tag string) ([]*whEvent, map[string]expUser, error) {
	created, err := webhook.Example(webhook.TypeUserCreated)
	if err != nil {
		return nil, nil, err
	}
	updated, err := webhook.Example(webhook.TypeUserUpdated)
	if err != nil {
		return nil, nil, err
	}
	nUpdated := n / 4
	nUsers := n - nUpdated
	base := time.Now().Add(-time.Hour).UnixMilli()
	events := make([]*whEvent, 0, n)
	exp := make(map[string]expUser, nUsers)
	for i := range nUsers {
		id := fmt.Sprintf("user_bench%s%s%07d", b.runID, tag, i)
		v := base + int64(i)
		body, err := webhook.Customize(created, webhook.Overrides{
			UserID: id, Email: fmt.Sprintf("%s@example.com", strings.ToLower(id)),
			FirstName: "v1", LastName: fmt.Sprint(i), UpdatedAt: v,
		})
		if err != nil {
			return nil, nil, err
		}
		events = append(events, &whEvent{userID: id, typ: webhook.TypeUserCreated, body: body})
		exp[id] = expUser{version: v, first: "v1"}
		if i < nUpdated {
			body, err := webhook.Customize(updated, webhook.Overrides{
				UserID: id, Email: fmt.Sprintf("%s.v2@example.com", strings.ToLower(id)),
				FirstName: "v2", LastName: fmt.Sprint(i), UpdatedAt: v + 60_000,
			})
			if err != nil {
				return nil, nil, err
			}
			events = append(events, &whEvent{userID: id, typ: webhook.TypeUserUpdated, body: body})
			exp[id] = expUser{version: v + 60_000, first: "v2"}
		}
	}
	rng := rand.New(rand.NewPCG(20, 26))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	return events, exp, nil
}

// sign gives every event fresh Svix headers, made with the Svix library
// through webhook.Sign. Done right before sending: Svix timestamps are
// valid for five minutes.
func (b *bench) sign(events []*whEvent) error {
	now := time.Now()
	for _, ev := range events {
		h, err := webhook.Sign(b.whSecret, ev.body, now)
		if err != nil {
			return err
		}
		ev.hdr = h
	}
	return nil
}

// postEvent builds the POST of one event.
func postEvent(url string, ev *whEvent) request {
	return func(ctx context.Context, _ int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.body))
		if err != nil {
			return nil, err
		}
		req.Header = ev.hdr.Clone()
		return req, nil
	}
}

// warmUp opens the client's connections and the server's pool before a
// measured phase.
func (b *bench) warmUp(ctx context.Context, base string) {
	runLoad(ctx, b.client, 4*b.o.Concurrency, b.o.Concurrency, func(ctx context.Context, i int) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	}, nil)
}

// ingestResult is part 1.
type ingestResult struct {
	Events     int          `json:"events"`
	Users      int          `json:"users"`
	Updated    int          `json:"users_created_then_updated"`
	Server     *loadResult  `json:"server"`
	Reference  *loadResult  `json:"reference_upsert"`
	Ratio      float64      `json:"ratio_server_to_reference"`
	CPUPerOp   float64      `json:"server_cpu_ms_per_event"`
	Verify     verifyResult `json:"verify"`
	RefVerify  verifyResult `json:"reference_verify"`
	RefComment string       `json:"reference"`
}

// dupResult is part 2.
type dupResult struct {
	Events         int          `json:"events"`
	Deliveries     int          `json:"deliveries"`
	Server         *loadResult  `json:"server"`
	EventsPerSec   float64      `json:"distinct_events_per_second"`
	CPUPerOp       float64      `json:"server_cpu_ms_per_delivery"`
	DuplicateAnswr int64        `json:"answered_duplicate"`
	Verify         verifyResult `json:"verify"`
}

// verifyResult says whether the database holds exactly what the events
// describe.
type verifyResult struct {
	OK            bool           `json:"ok"`
	Users         int            `json:"users"`
	WantUsers     int            `json:"want_users"`
	WrongVersion  int            `json:"wrong_version"`
	Missing       int            `json:"missing"`
	Unexpected    int            `json:"unexpected"`
	WebhookEvents int            `json:"webhook_events,omitempty"`
	WantEvents    int            `json:"want_webhook_events,omitempty"`
	Statuses      map[string]int `json:"webhook_statuses,omitempty"`
	AttemptsMin   int            `json:"attempts_min,omitempty"`
	AttemptsMax   int            `json:"attempts_max,omitempty"`
	WantAttempts  int            `json:"want_attempts,omitempty"`
	Analytics     int            `json:"analytics_rows,omitempty"`
	WelcomeJobs   int            `json:"welcome_jobs,omitempty"`
	Problems      []string       `json:"problems,omitempty"`
}

// startIngestServer starts a production server for an ingest part, warms
// it up, and signs the events just before they are sent (Svix's timestamp
// tolerance is five minutes).
func (b *bench) startIngestServer(ctx context.Context, part, name, dbURL string, events []*whEvent) (*serverProc, error) {
	srv, err := b.startServer(ctx, part, name, "production", dbURL)
	if err != nil {
		return nil, err
	}
	b.warmUp(ctx, srv.base)
	if err := b.sign(events); err != nil {
		b.stopServer(srv, "")
		return nil, err
	}
	return srv, nil
}

func (b *bench) partIngest(ctx context.Context) (*ingestResult, error) {
	dbURL, err := b.freshDB(ctx, "ingest")
	if err != nil {
		return nil, err
	}
	events, exp, err := b.makeEvents(b.o.Events, "i")
	if err != nil {
		return nil, err
	}
	res := &ingestResult{Events: len(events), Users: len(exp), Updated: len(events) - len(exp)}

	srv, err := b.startIngestServer(ctx, "1", "ingest", dbURL, events)
	if err != nil {
		return nil, err
	}
	url := srv.base + "/api/webhooks/clerk"
	log.Printf("posting %d events at c=%d", len(events), b.o.Concurrency)
	cpu0 := procCPU(srv.cmd.Process.Pid)
	res.Server = runLoad(ctx, b.client, len(events), b.o.Concurrency, func(ctx context.Context, i int) (*http.Request, error) {
		return postEvent(url, events[i])(ctx, i)
	}, nil)
	res.CPUPerOp = round3(1000 * (procCPU(srv.cmd.Process.Pid) - cpu0) / float64(len(events)))
	log.Printf("ingest: %.0f events/s, p99 %.1f ms, %d errors, server CPU %.2f ms/event",
		res.Server.PerSec, res.Server.P99ms, res.Server.Errors, res.CPUPerOp)
	res.Verify = verifyDB(ctx, dbURL, "users", exp, len(events), 1)
	b.stopServer(srv, "webhook ingest")

	snaps := make([]user.Snapshot, len(events))
	for i, ev := range events {
		e, err := webhook.DecodeEvent(ev.body)
		if err == nil {
			snaps[i], err = e.UserSnapshot()
		}
		if err != nil {
			return nil, err
		}
	}
	res.Reference, res.RefVerify, err = b.referenceUpsert(ctx, dbURL, snaps, exp)
	if err != nil {
		return nil, err
	}
	res.RefComment = "pgx pool, one INSERT ... ON CONFLICT (clerk_id) DO UPDATE ... WHERE newer per event (autocommit), into a copy of the users table"
	log.Printf("reference: %.0f upserts/s, p99 %.1f ms", res.Reference.PerSec, res.Reference.P99ms)
	if res.Reference.PerSec > 0 {
		res.Ratio = round3(res.Server.PerSec / res.Reference.PerSec)
	}
	return res, nil
}

func (b *bench) partDuplicates(ctx context.Context) (*dupResult, error) {
	dbURL, err := b.freshDB(ctx, "dups")
	if err != nil {
		return nil, err
	}
	events, exp, err := b.makeEvents(b.o.Events, "d")
	if err != nil {
		return nil, err
	}
	res := &dupResult{Events: len(events), Deliveries: 3 * len(events)}
	srv, err := b.startIngestServer(ctx, "2", "duplicates", dbURL, events)
	if err != nil {
		return nil, err
	}
	url := srv.base + "/api/webhooks/clerk"
	var dups atomic.Int64
	cpu0 := procCPU(srv.cmd.Process.Pid)
	// The three copies of an event are adjacent in the queue, so three
	// workers send them at the same moment.
	log.Printf("posting %d deliveries (3 per event) at c=%d", res.Deliveries, b.o.Concurrency)
	res.Server = runLoad(ctx, b.client, res.Deliveries, b.o.Concurrency, func(ctx context.Context, i int) (*http.Request, error) {
		return postEvent(url, events[i/3])(ctx, i)
	}, func(_ int, body []byte) error {
		if bytes.Contains(body, []byte(`"status":"duplicate"`)) {
			dups.Add(1)
		}
		return nil
	})
	res.DuplicateAnswr = dups.Load()
	res.CPUPerOp = round3(1000 * (procCPU(srv.cmd.Process.Pid) - cpu0) / float64(res.Deliveries))
	if res.Server.Seconds > 0 {
		res.EventsPerSec = round1(float64(len(events)) / res.Server.Seconds)
	}
	log.Printf("duplicates: %.0f deliveries/s, p99 %.1f ms, %d errors, %d answered duplicate",
		res.Server.PerSec, res.Server.P99ms, res.Server.Errors, res.DuplicateAnswr)
	res.Verify = verifyDB(ctx, dbURL, "users", exp, len(events), 3)
	b.stopServer(srv, "duplicate storm")
	return res, nil
}

// benchUpsert builds the single-row upsert both bench-only baselines use:
// the sync core's statement shape without the per-user advisory lock and
// the tombstone check. newerOnly keeps the core's version check; tail is
// appended (a RETURNING clause).
func benchUpsert(table, via string, newerOnly bool, tail string) string {
	where := ""
	if newerOnly {
		where = "\nWHERE u.clerk_updated_at < EXCLUDED.clerk_updated_at"
	}
	return `
INSERT INTO ` + table + ` AS u (
    clerk_id, email, email_verified, first_name, last_name, username,
    image_url, public_metadata, clerk_created_at, clerk_updated_at,
    synced_at, synced_via
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), '` + via + `')
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
    synced_via       = EXCLUDED.synced_via` + where + tail
}

// refUpsertSQL is the ingest reference: one upsert into a scratch table
// shaped like users.
var refUpsertSQL = benchUpsert("bench_ref_users", "webhook", true, "")

// referenceUpsert applies the same snapshots, in the same order and at the
// same concurrency, with a bare pgx loop into a scratch table shaped like
// users, on a pool opened like the server's.
func (b *bench) referenceUpsert(ctx context.Context, dbURL string, snaps []user.Snapshot, exp map[string]expUser) (*loadResult, verifyResult, error) {
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, verifyResult{}, err
	}
	defer db.Close()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE bench_ref_users (LIKE users INCLUDING ALL)`); err != nil {
		return nil, verifyResult{}, err
	}
	timeLoop(ctx, 4*b.o.Concurrency, b.o.Concurrency, func(ctx context.Context, _ int) error {
		_, err := db.Pool.Exec(ctx, `SELECT 1`)
		return err
	})
	res := timeLoop(ctx, len(snaps), b.o.Concurrency, func(ctx context.Context, i int) error {
		s := snaps[i]
		meta := s.PublicMetadata
		if len(meta) == 0 || string(meta) == "null" {
			meta = []byte("{}")
		}
		created := s.CreatedAt
		if created.IsZero() {
			created = s.UpdatedAt
		}
		_, err := db.Pool.Exec(ctx, refUpsertSQL, s.ClerkID, s.Email, s.EmailVerified,
			s.FirstName, s.LastName, s.Username, s.ImageURL, string(meta), created, s.UpdatedAt)
		return err
	})
	return res, verifyDB(ctx, dbURL, "bench_ref_users", exp, 0, 0), nil
}

// verifyDB compares table with the expected users and, when wantEvents is
// set, checks webhook_events: one row per event, each with wantAttempts
// deliveries, and one analytics row per event and welcome job per user.
func verifyDB(ctx context.Context, dbURL, table string, exp map[string]expUser, wantEvents, wantAttempts int) verifyResult {
	v := verifyResult{WantUsers: len(exp), WantEvents: wantEvents, WantAttempts: wantAttempts}
	problem := func(format string, args ...any) { v.Problems = append(v.Problems, fmt.Sprintf(format, args...)) }
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		problem("connect: %v", err)
		return v
	}
	defer conn.Close(ctx)

	rows, err := conn.Query(ctx, `SELECT clerk_id, (extract(epoch FROM clerk_updated_at) * 1000)::bigint,
		coalesce(first_name, '') FROM `+table)
	if err != nil {
		problem("read %s: %v", table, err)
		return v
	}
	seen := map[string]bool{}
	for rows.Next() {
		var id, first string
		var ver int64
		if err := rows.Scan(&id, &ver, &first); err != nil {
			problem("scan: %v", err)
			break
		}
		v.Users++
		seen[id] = true
		e, ok := exp[id]
		switch {
		case !ok:
			v.Unexpected++
		case e.version != ver || e.first != first:
			v.WrongVersion++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		problem("read %s: %v", table, err)
	}
	for id := range exp {
		if !seen[id] {
			v.Missing++
		}
	}
	if v.Users != len(exp) || v.WrongVersion+v.Missing+v.Unexpected > 0 {
		problem("%s: %d rows (want %d), %d wrong version, %d missing, %d unexpected",
			table, v.Users, len(exp), v.WrongVersion, v.Missing, v.Unexpected)
	}

	if wantEvents > 0 {
		v.Statuses = map[string]int{}
		v.AttemptsMin = 1 << 30
		rows, err := conn.Query(ctx, `SELECT status, count(*), min(attempts), max(attempts) FROM webhook_events GROUP BY status`)
		if err != nil {
			problem("read webhook_events: %v", err)
			return v
		}
		for rows.Next() {
			var status string
			var n, lo, hi int
			if err := rows.Scan(&status, &n, &lo, &hi); err != nil {
				problem("scan: %v", err)
				break
			}
			v.Statuses[status] = n
			v.WebhookEvents += n
			v.AttemptsMin, v.AttemptsMax = min(v.AttemptsMin, lo), max(v.AttemptsMax, hi)
		}
		rows.Close()
		conn.QueryRow(ctx, `SELECT count(*) FROM analytics_events WHERE dedup_key LIKE 'svix:%'`).Scan(&v.Analytics)
		conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'welcome_email'`).Scan(&v.WelcomeJobs)
		if v.WebhookEvents != wantEvents {
			problem("webhook_events: %d rows, want %d", v.WebhookEvents, wantEvents)
		}
		if v.AttemptsMin != wantAttempts || v.AttemptsMax != wantAttempts {
			problem("webhook_events attempts from %d to %d, want %d", v.AttemptsMin, v.AttemptsMax, wantAttempts)
		}
		if v.Statuses["failed"] > 0 {
			problem("%d events recorded as failed", v.Statuses["failed"])
		}
		if v.Analytics != wantEvents {
			problem("analytics rows from webhooks: %d, want %d", v.Analytics, wantEvents)
		}
		if v.WelcomeJobs != len(exp) {
			problem("welcome jobs: %d, want %d (one per user)", v.WelcomeJobs, len(exp))
		}
	}
	v.OK = len(v.Problems) == 0
	if !v.OK {
		log.Printf("verify %s: %s", table, strings.Join(v.Problems, "; "))
	}
	return v
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
