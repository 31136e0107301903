package clerkapi_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
)

const benchKey = "sk_test_clerkapibench"

// BenchmarkVerifySession measures verifying a session token once the
// signing key is cached: what every authenticated request pays.
func BenchmarkVerifySession(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{SecretKey: benchKey})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()

	client := clerkapi.NewClient(srv.URL, benchKey, nil)
	v := clerkapi.NewVerifier(client, clerkapi.VerifierOptions{
		AuthorizedParties: []string{"https://app.example.com"},
		Leeway:            5 * time.Second,
	})
	u := emu.CreateUser(clerkemu.UserParams{})
	token, err := emu.MintToken(u.ID, clerkemu.TokenOptions{
		TTL: time.Hour, AuthorizedParty: "https://app.example.com",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil { // fetches the JWKS
		b.Fatal(err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
	if n := emu.Requests(clerkemu.RouteJWKS); n != 1 {
		b.Fatalf("JWKS fetched %d times, want 1", n)
	}
}

// BenchmarkSnapshotFromUser measures turning a Clerk user (as the SDK
// decodes it) into a snapshot.
func BenchmarkSnapshotFromUser(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{SecretKey: benchKey})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	first := "Ada"
	u := emu.CreateUser(clerkemu.UserParams{FirstName: &first, ExtraEmails: []string{"old@example.com"}})

	b.ReportAllocs()
	for b.Loop() {
		if _, err := clerkapi.SnapshotFromUser(u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetUser measures one Backend API read through clerk-sdk-go
// against the local stand-in over loopback HTTP: the cost a request pays
// when it has to ask Clerk (real Clerk adds the network round trip).
func BenchmarkGetUser(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{SecretKey: benchKey})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	client := clerkapi.NewClient(srv.URL, benchKey, nil)
	u := emu.CreateUser(clerkemu.UserParams{})
	ctx := context.Background()

	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.GetUser(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
}
