package webhook_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// TestUnusableEventsAreRecordedFailed: a verified body that cannot be used
// answers 200 (a retry brings the same bytes) and is kept as failed.
func TestUnusableEventsAreRecordedFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()
	valid := userEvent(t, "user.created", id, 1_700_000_000_001, "Val", "val@example.com")

	cases := []struct {
		name        string
		body        []byte
		eventType   string
		wantPayload bool
	}{
		{"invalid JSON", []byte(`{"type":"user.created","data":{`), "unknown", false},
		{"not JSON at all", []byte("hello, svix"), "unknown", false},
		{"JSON but not an object", []byte(`["user.created"]`), "unknown", true},
		{"no type", []byte(`{"object":"event","data":{}}`), "unknown", true},
		{"type not a string", []byte(`{"type":5,"data":{}}`), "unknown", true},
		{"data a string", []byte(`{"type":"user.created","data":"nope"}`), "user.created", true},
		{"no data", []byte(`{"type":"user.updated"}`), "user.updated", true},
		{"first_name a number", editEvent(t, valid, func(_, d map[string]any) { d["first_name"] = 42 }),
			"user.created", true},
		{"updated_at a string", editEvent(t, valid, func(_, d map[string]any) { d["updated_at"] = "yesterday" }),
			"user.created", true},
		{"no updated_at", editEvent(t, valid, func(_, d map[string]any) { delete(d, "updated_at") }),
			"user.created", true},
		{"updated_at zero", editEvent(t, valid, func(_, d map[string]any) { d["updated_at"] = 0 }),
			"user.created", true},
		{"no id", editEvent(t, valid, func(_, d map[string]any) { delete(d, "id") }),
			"user.created", true},
		// user.deleted keeps no payload (erasure), even when unusable.
		{"deleted data a number", []byte(`{"type":"user.deleted","data":7}`), "user.deleted", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			status, resp, msgID := h.send(tc.body)
			a := requireAccepted(t, status, resp, "failed")
			require.Equal(t, msgID, a.SvixID)

			ev := h.mustEvent(msgID)
			require.Equal(t, "failed", ev.Status)
			require.Equal(t, tc.eventType, ev.EventType)
			require.NotEmpty(t, deref(ev.Error), "a failed record says why")
			require.Nil(t, ev.Outcome)
			require.Equal(t, tc.wantPayload, ev.HasPayload)
			require.Equal(t, 1, ev.Attempts)
			require.Zero(t, h.count("users"))
			require.Zero(t, h.count("user_tombstones"))

			// The redelivery Svix would never make (we answered 200) is
			// still a duplicate, not a second failure.
			status, resp = h.sendAs(msgID, tc.body)
			requireAccepted(t, status, resp, "duplicate")
			require.Equal(t, 2, h.mustEvent(msgID).Attempts)
		})
	}
}

// TestUnstorableTextIsRecordedFailed: verified JSON that PostgreSQL cannot
// store (a NUL character, which neither text nor jsonb accepts, or bytes
// that are not UTF-8) is as unusable as malformed JSON: 200 and a failed
// record, since a 5xx would make Svix retry the same bytes for a day.
func TestUnstorableTextIsRecordedFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	userBody := func(id, first string) []byte {
		return []byte(`{"type":"user.created","object":"event","data":{"object":"user","id":"` + id +
			`","first_name":"` + first + `","updated_at":1700000000001,"created_at":1700000000000,` +
			`"email_addresses":[],"public_metadata":{}}}`)
	}
	cases := []struct {
		name, id  string
		body      []byte
		eventType string
	}{
		{"NUL in a name", "", nil, "user.created"},
		{"invalid UTF-8 in a name", "", nil, "user.created"},
		{"NUL in the user agent", "", nil, "user.created"},
		{"NUL in the type", "", []byte(`{"type":"email\u0000created","data":{}}`), "emailcreated"},
		{"invalid UTF-8 in unparsable JSON", "", []byte("{\"type\":\"\xff\""), "unknown"},
	}
	for i := range cases {
		cases[i].id = newUserID()
	}
	cases[0].body = userBody(cases[0].id, `nul\u0000name`)
	cases[1].body = userBody(cases[1].id, "bad\xff\xfeutf8")
	cases[2].body = editEvent(t, userEvent(t, "user.created", cases[2].id, 1_700_000_000_001, "Agent", ""),
		func(ev, _ map[string]any) {
			ev["event_attributes"] = map[string]any{"http_request": map[string]any{"user_agent": "x\x00y"}}
		})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			status, resp, msgID := h.send(tc.body)
			requireAccepted(t, status, resp, "failed")
			ev := h.mustEvent(msgID)
			require.Equal(t, "failed", ev.Status)
			require.Equal(t, tc.eventType, ev.EventType)
			require.NotEmpty(t, deref(ev.Error))
			require.False(t, ev.HasPayload)
			_, ok := h.user(tc.id)
			require.False(t, ok)

			status, resp = h.sendAs(msgID, tc.body)
			requireAccepted(t, status, resp, "duplicate")
		})
	}
	require.Zero(t, h.count("users"))
}

// TestIgnoredEventTypes: types clerksync does not handle are recorded as
// ignored and change no user.
func TestIgnoredEventTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})

	// A user that must stay as it is.
	sessionUser := "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S" // the session example's user
	status, resp, _ := h.send(userEvent(t, "user.created", sessionUser, 1_700_000_000_001, "Kept", "kept@example.com"))
	requireAccepted(t, status, resp, "applied")

	email := []byte(`{"type":"email.created","object":"event","timestamp":1716883200,` +
		`"data":{"object":"email","id":"ema_1","user_id":"` + sessionUser + `",` +
		`"to_email_address":"kept@example.com","subject":"Hi"}}`)
	status, resp, msgID := h.send(email)
	requireAccepted(t, status, resp, "ignored")
	ev := h.mustEvent(msgID)
	require.Equal(t, "ignored", ev.Status)
	require.Equal(t, "email.created", ev.EventType)
	require.Equal(t, sessionUser, deref(ev.ClerkUserID))

	status, resp, msgID = h.send(example(t, "session.created"))
	requireAccepted(t, status, resp, "ignored")
	ev = h.mustEvent(msgID)
	require.Equal(t, "ignored", ev.Status)
	require.Equal(t, "session.created", ev.EventType)
	require.Equal(t, sessionUser, deref(ev.ClerkUserID))
	require.True(t, ev.HasPayload)

	// organization.* has a user-looking object; still ignored.
	org := []byte(`{"type":"organization.created","object":"event","data":{"object":"organization","id":"org_1","created_by":"` + sessionUser + `"}}`)
	status, resp, _ = h.send(org)
	requireAccepted(t, status, resp, "ignored")

	row, ok := h.user(sessionUser)
	require.True(t, ok)
	require.Equal(t, "Kept", deref(row.FirstName), "the session's embedded user must not be applied")
	require.Equal(t, "kept@example.com", deref(row.Email))
	require.EqualValues(t, 1_700_000_000_001, row.UpdatedAtMS)
	require.Equal(t, 1, h.count("users"))
	require.Zero(t, h.count("user_tombstones"))
}

// TestDeletedWithoutID is a no-op recorded as ignored.
func TestDeletedWithoutID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()
	status, resp, _ := h.send(userEvent(t, "user.created", id, 1_700_000_000_001, "Stay", ""))
	requireAccepted(t, status, resp, "applied")

	for _, body := range [][]byte{
		[]byte(`{"type":"user.deleted","object":"event","data":{"object":"user","deleted":true}}`),
		[]byte(`{"type":"user.deleted","object":"event","data":{"object":"user","id":"","deleted":true}}`),
		[]byte(`{"type":"user.deleted","object":"event","data":{}}`),
	} {
		status, resp, msgID := h.send(body)
		requireAccepted(t, status, resp, "ignored")
		ev := h.mustEvent(msgID)
		require.Equal(t, "ignored", ev.Status)
		require.Equal(t, "user.deleted", ev.EventType)
	}
	_, ok := h.user(id)
	require.True(t, ok)
	require.Zero(t, h.count("user_tombstones"))
}

// TestUserWithoutNamesOrEmail: phone or username sign-ups have null names
// and no email address; the row keeps them NULL.
func TestUserWithoutNamesOrEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()
	body := editEvent(t, example(t, "user.created"), func(_, d map[string]any) {
		d["id"] = id
		d["first_name"] = nil
		d["last_name"] = nil
		d["username"] = nil
		d["primary_email_address_id"] = nil
		d["email_addresses"] = []any{}
	})
	status, resp, msgID := h.send(body)
	requireAccepted(t, status, resp, "applied")
	require.Equal(t, "created", deref(h.mustEvent(msgID).Outcome))

	row, ok := h.user(id)
	require.True(t, ok)
	require.Nil(t, row.Email)
	require.False(t, row.EmailVerified)
	require.Nil(t, row.FirstName)
	require.Nil(t, row.LastName)
	require.Nil(t, row.Username)

	// The primary is the entry named by primary_email_address_id, not the
	// first of the list; a primary id naming no entry means no email.
	id2 := newUserID()
	body = editEvent(t, example(t, "user.created"), func(_, d map[string]any) {
		d["id"] = id2
		d["primary_email_address_id"] = "idn_primary"
		d["email_addresses"] = []any{
			map[string]any{"id": "idn_other", "object": "email_address", "email_address": "other@example.com",
				"verification": map[string]any{"status": "verified", "strategy": "email_code"}},
			map[string]any{"id": "idn_primary", "object": "email_address", "email_address": "primary@example.com",
				"verification": map[string]any{"status": "unverified", "strategy": "email_code"}},
		}
	})
	status, resp, _ = h.send(body)
	requireAccepted(t, status, resp, "applied")
	row, ok = h.user(id2)
	require.True(t, ok)
	require.Equal(t, "primary@example.com", deref(row.Email))
	require.False(t, row.EmailVerified)

	id3 := newUserID()
	body = editEvent(t, example(t, "user.created"), func(_, d map[string]any) {
		d["id"] = id3
		d["primary_email_address_id"] = "idn_gone"
		d["email_addresses"] = []any{
			map[string]any{"id": "idn_other", "object": "email_address", "email_address": "other@example.com"},
		}
	})
	status, resp, _ = h.send(body)
	requireAccepted(t, status, resp, "applied")
	row, ok = h.user(id3)
	require.True(t, ok)
	require.Nil(t, row.Email)
}

// TestPublishedExamples applies Clerk's five published payloads, byte for
// byte, in both phases with webhooks: user events change the users table,
// session.created is recorded and ignored.
func TestPublishedExamples(t *testing.T) {
	t.Parallel()
	docs, err := os.ReadFile(filepath.Join("examples", "user.created.docs.json"))
	require.NoError(t, err)

	for _, phase := range []user.Phase{user.PhaseBeta, user.PhaseProduction} {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{Phase: phase})
			const exampleUser = "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
			const docsUser = "user_29w83sxmDNGwOuEthce5gg56FcC"

			// user.created: empty email list, so no email.
			status, resp, msgID := h.send(example(t, "user.created"))
			requireAccepted(t, status, resp, "applied")
			ev := h.mustEvent(msgID)
			require.Equal(t, "user.created", ev.EventType)
			require.Equal(t, exampleUser, deref(ev.ClerkUserID))
			require.Equal(t, "created", deref(ev.Outcome))
			row, ok := h.user(exampleUser)
			require.True(t, ok)
			require.Equal(t, "John", deref(row.FirstName))
			require.Equal(t, "Doe", deref(row.LastName))
			require.Nil(t, row.Email)
			require.Nil(t, row.Username)
			require.EqualValues(t, 1_716_883_200_000, row.UpdatedAtMS)
			require.Equal(t, "webhook", row.SyncedVia)

			// The docs variant: a verified primary email.
			status, resp, _ = h.send(docs)
			requireAccepted(t, status, resp, "applied")
			row, ok = h.user(docsUser)
			require.True(t, ok)
			require.Equal(t, "example@example.org", deref(row.Email))
			require.True(t, row.EmailVerified)
			require.Equal(t, "Example", deref(row.FirstName))
			require.EqualValues(t, 1_654_012_591_835, row.UpdatedAtMS)

			// session.created: recorded, ignored, the user untouched.
			status, resp, msgID = h.send(example(t, "session.created"))
			requireAccepted(t, status, resp, "ignored")
			require.Equal(t, "ignored", h.mustEvent(msgID).Status)
			row, _ = h.user(exampleUser)
			require.Equal(t, "Doe", deref(row.LastName))

			// user.updated: a newer version.
			status, resp, msgID = h.send(example(t, "user.updated"))
			requireAccepted(t, status, resp, "applied")
			require.Equal(t, "updated", deref(h.mustEvent(msgID).Outcome))
			row, _ = h.user(exampleUser)
			require.Equal(t, "Doe Updated", deref(row.LastName))
			require.Equal(t, "johndoe", deref(row.Username))
			require.JSONEq(t, `{"department":"engineering"}`, row.PublicMetadata)
			require.EqualValues(t, 1_716_883_500_000, row.UpdatedAtMS)

			// user.created again (a replay under a new id): stale.
			status, resp, msgID = h.send(example(t, "user.created"))
			requireAccepted(t, status, resp, "stale")
			require.Equal(t, "unchanged", deref(h.mustEvent(msgID).Outcome))
			row, _ = h.user(exampleUser)
			require.Equal(t, "Doe Updated", deref(row.LastName))

			// user.deleted: row gone, tombstone left.
			status, resp, msgID = h.send(example(t, "user.deleted"))
			requireAccepted(t, status, resp, "applied")
			require.Equal(t, "deleted", deref(h.mustEvent(msgID).Outcome))
			_, ok = h.user(exampleUser)
			require.False(t, ok)
			require.True(t, h.tombstoned(exampleUser))

			// After deletion, nothing resurrects the id; a second deletion
			// is a no-op.
			status, resp, msgID = h.send(example(t, "user.updated"))
			requireAccepted(t, status, resp, "tombstoned")
			require.Equal(t, "tombstoned", h.mustEvent(msgID).Status)
			status, resp, _ = h.send(example(t, "user.deleted"))
			requireAccepted(t, status, resp, "tombstoned")
			_, ok = h.user(exampleUser)
			require.False(t, ok)

			_, ok = h.user(docsUser)
			require.True(t, ok, "the docs user is unaffected")
			require.Equal(t, 1, h.count("users"))
			require.Equal(t, 8, h.count("webhook_events"))
		})
	}
}

// A session event about an erased user arriving late keeps nothing
// personal and counts nothing under the user's id.
func TestLateEventAboutErasedUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{Phase: user.PhaseProduction})

	for _, typ := range []string{"user.created", "user.deleted"} {
		body, err := webhook.Example(typ)
		require.NoError(t, err)
		status, _, _ := h.send(body)
		require.Equal(t, http.StatusOK, status)
	}

	session, err := webhook.Example("session.created")
	require.NoError(t, err)
	status, resp, id := h.send(session)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(resp), `"status":"tombstoned"`)
	ev := h.mustEvent(id)
	require.False(t, ev.HasPayload, "no client IP or user agent of an erased user")
}
