package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// TestRefusedDeliveriesStoreNothing sends deliveries that cannot be
// verified: each gets 400 (413 for size) with its reason as the code, and
// nothing reaches the database.
func TestRefusedDeliveriesStoreNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	secret := h.Secrets[0]
	id := newUserID()
	// Clerk's example, indented as published: re-encoding changes bytes.
	body := userEvent(t, "user.created", id, 1_716_883_200_000, "Ann", "ann@example.com")
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, body, "", "  "))
	signedBody := pretty.Bytes()

	without := func(hdr http.Header, key string) http.Header {
		hdr.Del(key)
		return hdr
	}
	tampered := bytes.Clone(signedBody)
	i := bytes.Index(tampered, []byte("Ann"))
	require.Positive(t, i)
	tampered[i] = 'B' // one byte, "Ann" -> "Bnn"

	compact := func() []byte {
		var b bytes.Buffer
		require.NoError(t, json.Compact(&b, signedBody))
		return b.Bytes()
	}
	reordered := func() []byte { // map re-marshal: keys sorted, no spaces
		var m map[string]any
		require.NoError(t, json.Unmarshal(signedBody, &m))
		out, err := json.Marshal(m)
		require.NoError(t, err)
		return out
	}
	floatVersion := bytes.Replace(signedBody, []byte("1716883200000,"), []byte("1716883200000.0,"), 1)
	require.NotEqual(t, signedBody, floatVersion)

	big := bytes.Repeat([]byte(" "), testMaxBody+1)
	copy(big, signedBody) // valid JSON padded with white space
	oversized := big

	cases := []struct {
		name    string
		body    []byte
		headers func() http.Header
		status  int
		code    string
	}{
		{"tampered byte", tampered,
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"re-encoded compact", compact(),
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"re-encoded key order", reordered(),
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"number re-written as float", floatVersion,
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"trailing newline added", append(bytes.Clone(signedBody), '\n'),
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"signed with another secret", signedBody,
			func() http.Header { return signHeaders(t, newSecret(t), newMsgID(), time.Now(), signedBody) },
			400, "invalid_signature"},
		{"signed under another id", signedBody,
			func() http.Header {
				hdr := signHeaders(t, secret, newMsgID(), time.Now(), signedBody)
				hdr.Set("svix-id", newMsgID())
				return hdr
			},
			400, "invalid_signature"},
		{"signature of version v2", signedBody,
			func() http.Header {
				hdr := signHeaders(t, secret, newMsgID(), time.Now(), signedBody)
				hdr.Set("svix-signature", "v2,"+strings.TrimPrefix(hdr.Get("svix-signature"), "v1,"))
				return hdr
			},
			400, "invalid_signature"},
		{"missing svix-id", signedBody,
			func() http.Header {
				return without(signHeaders(t, secret, newMsgID(), time.Now(), signedBody), "svix-id")
			},
			400, "missing_headers"},
		{"missing svix-timestamp", signedBody,
			func() http.Header {
				return without(signHeaders(t, secret, newMsgID(), time.Now(), signedBody), "svix-timestamp")
			},
			400, "missing_headers"},
		{"missing svix-signature", signedBody,
			func() http.Header {
				return without(signHeaders(t, secret, newMsgID(), time.Now(), signedBody), "svix-signature")
			},
			400, "missing_headers"},
		{"no headers at all", signedBody,
			func() http.Header { return http.Header{"Content-Type": {"application/json"}} },
			400, "missing_headers"},
		{"timestamp 10 minutes old", signedBody,
			func() http.Header {
				return signHeaders(t, secret, newMsgID(), time.Now().Add(-10*time.Minute), signedBody)
			},
			400, "timestamp_too_old"},
		{"timestamp 10 minutes ahead", signedBody,
			func() http.Header {
				return signHeaders(t, secret, newMsgID(), time.Now().Add(10*time.Minute), signedBody)
			},
			400, "timestamp_too_new"},
		{"timestamp in milliseconds", signedBody,
			func() http.Header {
				hdr := signHeaders(t, secret, newMsgID(), time.Now(), signedBody)
				hdr.Set("svix-timestamp", fmt.Sprint(time.Now().UnixMilli()))
				return hdr
			},
			400, "timestamp_too_new"},
		{"non-numeric timestamp", signedBody,
			func() http.Header {
				hdr := signHeaders(t, secret, newMsgID(), time.Now(), signedBody)
				hdr.Set("svix-timestamp", "yesterday")
				return hdr
			},
			400, "invalid_timestamp"},
		{"fractional timestamp", signedBody,
			func() http.Header {
				hdr := signHeaders(t, secret, newMsgID(), time.Now(), signedBody)
				hdr.Set("svix-timestamp", hdr.Get("svix-timestamp")+".5")
				return hdr
			},
			400, "invalid_timestamp"},
		{"overlong message id", signedBody,
			func() http.Header {
				return signHeaders(t, secret, "msg_"+strings.Repeat("x", 300), time.Now(), signedBody)
			},
			400, "invalid_message_id"},
		{"empty body, correctly signed", []byte{},
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), nil) },
			400, "empty_body"},
		{"body over the limit", oversized,
			func() http.Header { return signHeaders(t, secret, newMsgID(), time.Now(), oversized) },
			413, "payload_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			status, resp := h.post(tc.body, tc.headers())
			requireError(t, status, resp, tc.status, tc.code)
			h.requireNothingStored()
		})
	}

	t.Run("body over the limit, chunked without length", func(t *testing.T) {
		h := h.with(t)
		hdr := signHeaders(t, secret, newMsgID(), time.Now(), oversized)
		// A reader of unknown length makes the client send chunked, so
		// only the server's read limit can catch it.
		status, resp, err := postTo(h.webhookURL(), io.MultiReader(bytes.NewReader(oversized)), hdr)
		require.NoError(t, err)
		requireError(t, status, resp, 413, "payload_too_large")
		h.requireNothingStored()
	})

	t.Run("body exactly at the limit is read", func(t *testing.T) {
		h := h.with(t)
		atLimit := bytes.Repeat([]byte(" "), testMaxBody)
		copy(atLimit, signedBody)
		status, resp, err := postTo(h.webhookURL(), io.MultiReader(bytes.NewReader(atLimit)),
			signHeaders(t, secret, newMsgID(), time.Now(), atLimit))
		require.NoError(t, err)
		requireAccepted(t, status, resp, "applied")
		row, ok := h.user(id)
		require.True(t, ok)
		require.Equal(t, "Ann", deref(row.FirstName))
	})
}

// TestAcceptedSignatureVariations covers what Svix may legitimately send:
// several signatures, rotated secrets, header names in any case and the
// Standard Webhooks names.
func TestAcceptedSignatureVariations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{Secrets: 2})

	send := func(t *testing.T, body []byte, hdr http.Header) string {
		status, resp := h.with(t).post(body, hdr)
		a := requireAccepted(t, status, resp, "applied")
		return a.SvixID
	}

	t.Run("several signatures, one valid", func(t *testing.T) {
		id := newUserID()
		body := userEvent(t, "user.created", id, 1_700_000_000_001, "Multi", "")
		msgID := newMsgID()
		hdr := signHeaders(t, h.Secrets[0], msgID, time.Now(), body)
		other := signHeaders(t, newSecret(t), msgID, time.Now(), body).Get("svix-signature")
		hdr.Set("svix-signature", "v1,bogus "+other+" v1a,x "+hdr.Get("svix-signature")+" v2,zzz")
		require.Equal(t, msgID, send(t, body, hdr))
		_, ok := h.with(t).user(id)
		require.True(t, ok)
	})

	t.Run("each of two secrets verifies", func(t *testing.T) {
		for i, secret := range h.Secrets {
			id := newUserID()
			body := userEvent(t, "user.created", id, 1_700_000_000_001, fmt.Sprint("Key", i), "")
			send(t, body, signHeaders(t, secret, newMsgID(), time.Now(), body))
			row, ok := h.with(t).user(id)
			require.True(t, ok, "secret #%d", i+1)
			require.Equal(t, fmt.Sprint("Key", i), deref(row.FirstName))
		}
	})

	t.Run("signed with both secrets during a rotation", func(t *testing.T) {
		id := newUserID()
		body := userEvent(t, "user.created", id, 1_700_000_000_001, "Both", "")
		msgID := newMsgID()
		ts := time.Now()
		a := signHeaders(t, h.Secrets[0], msgID, ts, body)
		b := signHeaders(t, h.Secrets[1], msgID, ts, body)
		a.Set("svix-signature", b.Get("svix-signature")+" "+a.Get("svix-signature"))
		send(t, body, a)
	})

	t.Run("mixed-case header names", func(t *testing.T) {
		id := newUserID()
		body := userEvent(t, "user.created", id, 1_700_000_000_001, "Case", "")
		msgID := newMsgID()
		signed := signHeaders(t, h.Secrets[0], msgID, time.Now(), body)
		raw := http.Header{
			"Svix-Id":        {signed.Get("svix-id")},
			"SVIX-TIMESTAMP": {signed.Get("svix-timestamp")},
			"svix-signature": {signed.Get("svix-signature")},
			"content-type":   {"application/json"},
		}
		require.Equal(t, msgID, send(t, body, raw))
		require.Equal(t, "applied", h.with(t).mustEvent(msgID).Status)
	})

	t.Run("Standard Webhooks header names", func(t *testing.T) {
		id := newUserID()
		body := userEvent(t, "user.created", id, 1_700_000_000_001, "Std", "")
		msgID := newMsgID()
		signed := signHeaders(t, h.Secrets[1], msgID, time.Now(), body)
		raw := http.Header{
			"webhook-id":        {signed.Get("svix-id")},
			"Webhook-Timestamp": {signed.Get("svix-timestamp")},
			"WEBHOOK-SIGNATURE": {signed.Get("svix-signature")},
		}
		require.Equal(t, msgID, send(t, body, raw))
		_, ok := h.with(t).user(id)
		require.True(t, ok)
	})

	t.Run("exact bytes with odd spacing and CRLF verify", func(t *testing.T) {
		id := newUserID()
		body := userEvent(t, "user.created", id, 1_700_000_000_001, "Odd", "")
		var b bytes.Buffer
		require.NoError(t, json.Indent(&b, body, "\r\n", "\t"))
		odd := append([]byte("\r\n  "), b.Bytes()...)
		odd = append(odd, " \n"...)
		send(t, odd, signHeaders(t, h.Secrets[0], newMsgID(), time.Now(), odd))
		_, ok := h.with(t).user(id)
		require.True(t, ok)
	})

	t.Run("timestamp 4 minutes off either way", func(t *testing.T) {
		for _, d := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
			id := newUserID()
			body := userEvent(t, "user.created", id, 1_700_000_000_001, "Skew", "")
			send(t, body, signHeaders(t, h.Secrets[0], newMsgID(), time.Now().Add(d), body))
		}
	})
}

// TestWebhooksOffInMVP: in phase mvp the route answers 404 with a body
// that names the phase, and stores nothing.
func TestWebhooksOffInMVP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{Phase: user.PhaseMVP})
	require.Empty(t, h.Secrets)
	require.Nil(t, h.App.Webhooks)

	body := userEvent(t, "user.created", newUserID(), 1_700_000_000_001, "Off", "")
	hdr := signHeaders(t, newSecret(t), newMsgID(), time.Now(), body)
	status, resp := h.post(body, hdr)
	requireError(t, status, resp, http.StatusNotFound, "webhooks_disabled")
	require.Contains(t, string(resp), "mvp")
	h.requireNothingStored()

	status, resp = h.get("/api/sync/status", nil)
	require.Equal(t, http.StatusOK, status, "%s", resp)
	var st map[string]any
	require.NoError(t, json.Unmarshal(resp, &st))
	require.Equal(t, "mvp", st["phase"])
	require.Equal(t, false, st["webhooks_enabled"])
}

// TestSyncStatusHoldsNoSecret: the status route says what the deployment
// does and leaks neither signing secret nor Clerk key.
func TestSyncStatusHoldsNoSecret(t *testing.T) {
	t.Parallel()
	for _, phase := range []user.Phase{user.PhaseBeta, user.PhaseProduction} {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{Phase: phase, Secrets: 2})
			status, resp := h.get("/api/sync/status", nil)
			require.Equal(t, http.StatusOK, status, "%s", resp)
			var st map[string]any
			require.NoError(t, json.Unmarshal(resp, &st))
			require.Equal(t, string(phase), st["phase"])
			require.Equal(t, true, st["webhooks_enabled"])
			for _, s := range h.Secrets {
				require.NotContains(t, string(resp), s)
				require.NotContains(t, string(resp), strings.TrimPrefix(s, "whsec_"))
			}
			require.NotContains(t, string(resp), "whsec_")
			require.NotContains(t, string(resp), emuSecretKey)
		})
	}
}

// TestRejectionMetric: a bad signature is counted by reason.
func TestRejectionMetric(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := userEvent(t, "user.created", newUserID(), 1_700_000_000_001, "Metric", "")
	hdr := signHeaders(t, newSecret(t), newMsgID(), time.Now(), body)
	status, resp := h.post(body, hdr)
	requireError(t, status, resp, 400, "invalid_signature")
	status, resp = h.post(body, http.Header{})
	requireError(t, status, resp, 400, "missing_headers")

	status, metrics := h.get("/metrics", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(metrics), `clerksync_webhook_rejections_total{reason="invalid_signature"} 1`)
	require.Contains(t, string(metrics), `clerksync_webhook_rejections_total{reason="missing_headers"} 1`)
	for _, s := range h.Secrets {
		require.NotContains(t, string(metrics), strings.TrimPrefix(s, "whsec_"))
	}
}
