package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	clerkhttp "github.com/clerk/clerk-sdk-go/v2/http"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	clerkuser "github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/gin-gonic/gin"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// inproc is a bench-only HTTP server in this process, on the same Gin +
// pgx stack as clerksync; it never ships in the product.
type inproc struct {
	name   string
	base   string
	db     *postgres.DB
	srv    *http.Server
	writes atomic.Int64 // users upserts (naive only)
}

func (s *inproc) close() {
	s.srv.Close()
	s.db.Close()
}

// benchUserHeader carries the Clerk id to the reference route, which
// trusts it: the reference measures the read without authentication.
const benchUserHeader = "X-Bench-User"

// startReference serves GET /api/me doing what clerksync's handler does
// once the middleware has run, with no middleware: the same SELECT (the
// postgres package's GetUser) and the same JSON answer.
func (b *bench) startReference(ctx context.Context, dbURL string) (*inproc, error) {
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/me", func(c *gin.Context) {
		u, err := db.GetUser(c.Request.Context(), c.GetHeader(benchUserHeader))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, u)
	})
	return b.serveInproc("reference", db, r)
}

// naiveUpsertSQL writes on every request: no version check, no TTL.
var naiveUpsertSQL = benchUpsert("users", "request", false, `
RETURNING id, clerk_id, email, email_verified, first_name, last_name, username,
    image_url, public_metadata, clerk_created_at, clerk_updated_at,
    synced_at, synced_via, created_at`)

// startNaive serves GET /api/me the way a first integration often does
// it: clerk-sdk-go's header middleware verifies the token (it caches the
// JWKS key), then every request fetches the user from Clerk with the SDK
// and upserts it unconditionally. Its Clerk client keeps up to 64 idle
// connections, so that it measures calls, not TCP handshakes.
func (b *bench) startNaive(ctx context.Context, dbURL string) (*inproc, error) {
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	cfg := &clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		URL: clerk.String(b.emuURL),
		Key: clerk.String(secretKey),
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
	}}
	users := clerkuser.NewClient(cfg)
	auth := clerkhttp.RequireHeaderAuthorization(clerkhttp.JWKSClient(jwks.NewClient(cfg)))

	s := &inproc{}
	h := auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := clerk.SessionClaimsFromContext(r.Context())
		cu, err := users.Get(r.Context(), claims.Subject)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		snap, err := clerkapi.SnapshotFromUser(cu)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		meta := snap.PublicMetadata
		if len(meta) == 0 || string(meta) == "null" {
			meta = []byte("{}")
		}
		var u user.User
		err = db.Pool.QueryRow(r.Context(), naiveUpsertSQL, snap.ClerkID, snap.Email,
			snap.EmailVerified, snap.FirstName, snap.LastName, snap.Username, snap.ImageURL,
			string(meta), snap.CreatedAt, snap.UpdatedAt).Scan(
			&u.ID, &u.ClerkID, &u.Email, &u.EmailVerified, &u.FirstName,
			&u.LastName, &u.Username, &u.ImageURL, &u.PublicMetadata,
			&u.ClerkCreatedAt, &u.ClerkUpdatedAt, &u.SyncedAt, &u.SyncedVia,
			&u.CreatedAt)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.writes.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(u)
	}))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/me", gin.WrapH(h))
	srv, err := b.serveInproc("naive", db, r)
	if err != nil {
		return nil, err
	}
	// The handler counts its writes on s; srv only served.
	s.name, s.base, s.db, s.srv = srv.name, srv.base, srv.db, srv.srv
	return s, nil
}

func (b *bench) serveInproc(name string, db *postgres.DB, h http.Handler) (*inproc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return &inproc{name: name, base: "http://" + ln.Addr().String(), db: db, srv: srv}, nil
}

// flushStats makes this process's own database connections publish their
// table statistics now rather than when idle for 10s.
func (s *inproc) flushStats(ctx context.Context) error {
	for _, c := range s.db.Pool.AcquireAllIdle(ctx) {
		_, err := c.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
		c.Release()
		if err != nil {
			return fmt.Errorf("flush stats: %w", err)
		}
	}
	return nil
}
