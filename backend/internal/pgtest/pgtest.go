// Package pgtest gives each test its own PostgreSQL database, created from
// a template that the real migrations built once per schema version.
// The server comes from TEST_DATABASE_URL or DATABASE_URL; `make test`
// starts one and sets it.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/migrations"
)

// ServerURL returns the URL of the server tests run against, skipping the
// test when none is configured and failing it under CI, where a skip would
// hide that nothing ran.
func ServerURL(t testing.TB) string {
	t.Helper()
	for _, key := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(key); v != "" {
			return v
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no TEST_DATABASE_URL or DATABASE_URL under CI; run `make test`")
	}
	t.Skip("no TEST_DATABASE_URL or DATABASE_URL; run `make test`")
	return ""
}

// NewDatabase creates an empty, fully migrated database for this test and
// drops it when the test ends. It returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)

	template, err := ensureTemplate(ctx, admin, server)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}

	name := "t_" + randomHex(8)
	if _, err := admin.Exec(ctx, fmt.Sprintf(
		"CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(server, name) })
	return withDatabase(server, name)
}

// NewDB is NewDatabase plus an open pool, closed at the end of the test.
func NewDB(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// ensureTemplate builds the template database for the current migrations
// once. Test binaries run in parallel, so an advisory lock guards it.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, server string) (string, error) {
	name := "tmpl_" + migrationsHash()

	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(727271)`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(727271)`)

	var exists bool
	err := admin.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		name).Scan(&exists)
	if err != nil || exists {
		return name, err
	}

	building := name + "_build"
	admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := migrate(ctx, withDatabase(server, building)); err != nil {
		return "", err
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name))
	return name, err
}

func migrate(ctx context.Context, dbURL string) error {
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.MigrateUp(ctx, nil)
	return err
}

// migrationsHash names the template after the migration files' contents,
// so a changed migration gets a fresh template.
func migrationsHash() string {
	h := sha256.New()
	fmt.Fprintf(h, "river:%d\n", migrations.RiverSchemaVersion)
	fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func dropDatabase(server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		panic(fmt.Sprintf("pgtest: bad server URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
