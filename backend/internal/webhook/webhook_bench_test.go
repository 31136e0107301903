package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// benchSecret returns a signing secret made of one repeated byte.
func benchSecret(c byte) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(c), 32)))
}

// benchSigned returns Clerk's example user.created and the headers Svix
// would send with it.
func benchSigned(b *testing.B, secret string) ([]byte, http.Header) {
	b.Helper()
	body, err := webhook.Example(webhook.TypeUserCreated)
	if err != nil {
		b.Fatal(err)
	}
	h, err := webhook.Sign(secret, body, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return body, h
}

// BenchmarkVerify measures signature verification of one delivery with
// one configured secret, and during a rotation when the second of two
// secrets is the one that matches.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name    string
		secrets []string
	}{
		{"one_secret", []string{benchSecret('a')}},
		{"rotation_second_matches", []string{benchSecret('b'), benchSecret('a')}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, err := webhook.NewVerifier(tc.secrets)
			if err != nil {
				b.Fatal(err)
			}
			body, h := benchSigned(b, benchSecret('a'))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(body, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRejected measures a delivery whose signature matches no
// secret (the cost of a forged request).
func BenchmarkVerifyRejected(b *testing.B) {
	v, err := webhook.NewVerifier([]string{benchSecret('a')})
	if err != nil {
		b.Fatal(err)
	}
	body, h := benchSigned(b, benchSecret('z'))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(body, h); err == nil {
			b.Fatal("forged delivery verified")
		}
	}
}

// BenchmarkDecodeEvent measures decoding the envelope alone.
func BenchmarkDecodeEvent(b *testing.B) {
	body, err := webhook.Example(webhook.TypeUserCreated)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.DecodeEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeUserSnapshot measures what the handler does with a
// verified user event before touching the database: the envelope, the
// user data, the snapshot, and the subject id it records.
func BenchmarkDecodeUserSnapshot(b *testing.B) {
	for _, typ := range []string{webhook.TypeUserCreated, webhook.TypeUserUpdated} {
		b.Run(strings.ReplaceAll(typ, ".", "_"), func(b *testing.B) {
			body, err := webhook.Example(typ)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				ev, err := webhook.DecodeEvent(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ev.UserSnapshot(); err != nil {
					b.Fatal(err)
				}
				_ = ev.SubjectUserID()
			}
		})
	}
}
