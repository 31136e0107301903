package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
)

// caller is a stand-in user with a long-lived session token.
type caller struct {
	id    string
	token string
	idB   []byte
}

// makeCallers creates n users in the stand-in and mints an hour-long
// token for each.
func (b *bench) makeCallers(n int, tag string) ([]caller, error) {
	out := make([]caller, n)
	for i := range out {
		id := b.newUserID(tag)
		email := strings.ToLower(id) + "@example.com"
		first := "Bench"
		b.emu.CreateUser(clerkemu.UserParams{ID: id, Email: &email, FirstName: &first})
		tok, err := b.emu.MintToken(id, clerkemu.TokenOptions{TTL: time.Hour})
		if err != nil {
			return nil, err
		}
		out[i] = caller{id: id, token: tok, idB: []byte(`"clerk_id":"` + id + `"`)}
	}
	return out, nil
}

// getMe sends GET /api/me as callers[(i+offset) % len], and checks that the
// answer is that caller's row.
func getMe(base string, callers []caller, offset int) (request, func(int, []byte) error) {
	url := base + "/api/me"
	pick := func(i int) caller { return callers[(i+offset)%len(callers)] }
	build := func(ctx context.Context, i int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		c := pick(i)
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set(benchUserHeader, c.id)
		return req, nil
	}
	check := func(i int, body []byte) error {
		if !bytes.Contains(body, pick(i).idB) {
			return fmt.Errorf("answer is not the caller's row: %.200s", body)
		}
		return nil
	}
	return build, check
}

// readTarget is one server answering GET /api/me in part 3.
type readTarget struct {
	Name     string      `json:"name"`
	What     string      `json:"what"`
	Result   *loadResult `json:"result"`
	Ratio    float64     `json:"ratio_to_reference"`
	WarmUp   *loadResult `json:"warm_up"`
	ClerkGet int64       `json:"clerk_get_user_during_measure"`
	base     string
}

// readsResult is part 3.
type readsResult struct {
	Users   int           `json:"users"`
	Rounds  int           `json:"rounds"`
	Targets []*readTarget `json:"targets"`
}

func (r *readsResult) target(name string) *readTarget {
	if r == nil {
		return nil
	}
	for _, t := range r.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func (b *bench) partReads(ctx context.Context) (*readsResult, error) {
	dbURL, err := b.freshDB(ctx, "reads")
	if err != nil {
		return nil, err
	}
	callers, err := b.makeCallers(b.o.ReadUsers, "r")
	if err != nil {
		return nil, err
	}
	res := &readsResult{Users: len(callers), Rounds: b.o.Rounds}

	// Both phases run at once against one database, as two instances
	// would; the mvp one syncs every user first.
	mvp, err := b.startServer(ctx, "3", "reads-mvp", "mvp", dbURL)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(mvp, "warm reads, mvp")
	prod, err := b.startServer(ctx, "3", "reads-production", "production", dbURL)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(prod, "warm reads, production")
	ref, err := b.startReference(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer ref.close()
	naive, err := b.startNaive(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer naive.close()

	targets := []*readTarget{
		{Name: "reference", What: "bench-only Gin route: the same SELECT and JSON, no auth, no sync", base: ref.base},
		{Name: "mvp", What: "clerksync SYNC_PHASE=mvp: verify token, user fresh within USER_SYNC_TTL, read row", base: mvp.base},
		{Name: "production", What: "clerksync SYNC_PHASE=production: verify token, read row", base: prod.base},
		{Name: "naive", What: "clerk-sdk-go middleware + Clerk GetUser + unconditional upsert on every request", base: naive.base},
	}
	// Warm-up: every caller once per target, mvp first, which syncs them
	// all from the stand-in.
	for _, t := range []*readTarget{targets[1], targets[0], targets[2], targets[3]} {
		build, check := getMe(t.base, callers, 0)
		t.WarmUp = runLoad(ctx, b.client, len(callers), b.o.Concurrency, build, check)
		if t.WarmUp.Errors > 0 {
			return nil, fmt.Errorf("warm-up of %s: %d errors, first: %s", t.Name, t.WarmUp.Errors, t.WarmUp.FirstErr)
		}
	}

	// Measure in rounds, rotating the order, so that a burst of other
	// load on the machine hits every target alike.
	per := (b.o.Reads + b.o.Rounds - 1) / b.o.Rounds
	for round := 0; round < b.o.Rounds; round++ {
		for k := range targets {
			t := targets[(k+round)%len(targets)]
			build, check := getMe(t.base, callers, round*per)
			before := b.emu.Requests(clerkemu.RouteGetUser)
			r := runLoad(ctx, b.client, per, b.o.Concurrency, build, check)
			t.ClerkGet += b.emu.Requests(clerkemu.RouteGetUser) - before
			if t.Result == nil {
				t.Result = r
			} else {
				t.Result.merge(r)
			}
		}
	}
	refRate := targets[0].Result.PerSec
	for _, t := range targets {
		if refRate > 0 {
			t.Ratio = round3(t.Result.PerSec / refRate)
		}
		log.Printf("reads %-10s %8.0f req/s  p99 %6.1f ms  errors %d  ratio %.3f  clerk get_user %d",
			t.Name, t.Result.PerSec, t.Result.P99ms, t.Result.Errors, t.Ratio, t.ClerkGet)
	}
	res.Targets = targets
	return res, nil
}
