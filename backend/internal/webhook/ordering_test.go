package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// TestConcurrentDuplicates: Svix's at-least-once delivery can bring the
// same message several times at once; one applies, the rest are 2xx
// duplicates counted on the one record.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()
	body := userEvent(t, "user.created", id, 1_700_000_000_001, "Dup", "dup@example.com")
	msgID := newMsgID()

	const n = 20
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		// Each delivery re-signed, as Svix does on a retry.
		hdr := signHeaders(t, h.Secrets[0], msgID, time.Now(), body)
		wg.Go(func() {
			<-start
			s, b, err := postTo(h.webhookURL(), bytes.NewReader(body), hdr)
			results[i] = result{s, b, err}
		})
	}
	close(start)
	wg.Wait()

	statuses := map[string]int{}
	for _, r := range results {
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		statuses[parseAnswer(t, r.body).Status]++
	}
	require.Equal(t, map[string]int{"applied": 1, "duplicate": n - 1}, statuses)

	ev := h.mustEvent(msgID)
	require.Equal(t, "applied", ev.Status)
	require.Equal(t, n, ev.Attempts)
	require.Equal(t, 1, h.count("webhook_events"))
	require.Equal(t, 1, h.count("users"))
	row, ok := h.user(id)
	require.True(t, ok)
	require.Equal(t, "Dup", deref(row.FirstName))
}

// TestDuplicateDoesNotReapply: a redelivery of an old message id after a
// newer event does nothing, even though its data differs from the row.
func TestDuplicateDoesNotReapply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()
	created := userEvent(t, "user.created", id, 1_000, "One", "one@example.com")
	status, resp, createdID := h.send(created)
	requireAccepted(t, status, resp, "applied")
	status, resp, _ = h.send(deletedEvent(t, id))
	requireAccepted(t, status, resp, "applied")

	status, resp = h.sendAs(createdID, created)
	requireAccepted(t, status, resp, "duplicate")
	_, ok := h.user(id)
	require.False(t, ok)
	require.True(t, h.tombstoned(id))
	require.Equal(t, 2, h.mustEvent(createdID).Attempts)
	require.Equal(t, "applied", h.mustEvent(createdID).Status)
}

// TestNewerBeforeOlder: user.updated arrives before the user.created it
// follows; the row ends with the newer data and the older event is stale.
func TestNewerBeforeOlder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id := newUserID()

	status, resp, updID := h.send(userEvent(t, "user.updated", id, 2_000, "Newer", "new@example.com"))
	requireAccepted(t, status, resp, "applied")
	require.Equal(t, "created", deref(h.mustEvent(updID).Outcome))

	status, resp, crID := h.send(userEvent(t, "user.created", id, 1_000, "Older", "old@example.com"))
	requireAccepted(t, status, resp, "stale")
	ev := h.mustEvent(crID)
	require.Equal(t, "stale", ev.Status)
	require.Equal(t, "unchanged", deref(ev.Outcome))

	// Same version again under another id: also stale (equal is not newer).
	status, resp, _ = h.send(userEvent(t, "user.updated", id, 2_000, "Same", "same@example.com"))
	requireAccepted(t, status, resp, "stale")

	row, ok := h.user(id)
	require.True(t, ok)
	require.Equal(t, "Newer", deref(row.FirstName))
	require.Equal(t, "new@example.com", deref(row.Email))
	require.EqualValues(t, 2_000, row.UpdatedAtMS)

	// The envelope timestamp is not a version: a higher one with older
	// data changes nothing.
	body := editEvent(t, userEvent(t, "user.updated", id, 1_500, "Envelope", ""), func(ev, _ map[string]any) {
		ev["timestamp"] = 9_999_999_999_999
	})
	status, resp, _ = h.send(body)
	requireAccepted(t, status, resp, "stale")
	row, _ = h.user(id)
	require.Equal(t, "Newer", deref(row.FirstName))
}

// delivery is one event of a scenario, under its Svix message id.
type delivery struct {
	msgID string
	body  []byte
}

// TestRandomDeliveryOrder is a property test: whatever order Svix delivers
// created v1, updated v2..v4 and deleted in, with any event resent, the
// final state equals in-order delivery.
func TestRandomDeliveryOrder(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEBHOOK_ORDER_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (WEBHOOK_ORDER_SEED=%[1]d replays the same orders)", seed)
	const permutations = 200
	const workers = 4 // each permutation is sequential; permutations run side by side

	type plan struct {
		id     string
		events []delivery // in Clerk's order
		sends  []delivery // in delivery order, resends included
	}
	makePlans := func(withDelete bool, rng *rand.Rand) []plan {
		plans := make([]plan, permutations)
		for p := range plans {
			id := newUserID()
			events := []delivery{
				{newMsgID(), userEvent(t, "user.created", id, 1_000, "v1", fmt.Sprintf("v1.%s@example.com", id))},
				{newMsgID(), userEvent(t, "user.updated", id, 2_000, "v2", fmt.Sprintf("v2.%s@example.com", id))},
				{newMsgID(), userEvent(t, "user.updated", id, 3_000, "v3", fmt.Sprintf("v3.%s@example.com", id))},
				{newMsgID(), userEvent(t, "user.updated", id, 4_000, "v4", fmt.Sprintf("v4.%s@example.com", id))},
			}
			if withDelete {
				events = append(events, delivery{newMsgID(), deletedEvent(t, id)})
			}
			var sends []delivery
			for _, ev := range events {
				sends = append(sends, ev)
				if rng.IntN(3) == 0 { // resent under the same id
					sends = append(sends, ev)
				}
			}
			rng.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })
			plans[p] = plan{id: id, events: events, sends: sends}
		}
		return plans
	}

	check := func(t *testing.T, h *harness, p int, pl plan, withDelete bool) {
		seen := map[string]bool{}
		for _, d := range pl.sends {
			status, resp := h.sendAs(d.msgID, d.body)
			require.Equal(t, http.StatusOK, status, "permutation %d: %s", p, resp)
			if seen[d.msgID] {
				require.Equal(t, "duplicate", parseAnswer(t, resp).Status, "permutation %d", p)
			}
			seen[d.msgID] = true
		}

		ids := make([]string, len(pl.events))
		for i, ev := range pl.events {
			ids[i] = ev.msgID
		}
		var records, attempts, failed int
		err := h.check.QueryRow(context.Background(), `
			SELECT count(*), coalesce(sum(attempts), 0), count(*) FILTER (WHERE status = 'failed')
			FROM webhook_events WHERE svix_id = ANY($1)`, ids).Scan(&records, &attempts, &failed)
		require.NoError(t, err)
		require.Equal(t, len(pl.events), records, "permutation %d: one record per message", p)
		require.Equal(t, len(pl.sends), attempts, "permutation %d: attempts", p)
		require.Zero(t, failed, "permutation %d", p)

		row, ok := h.user(pl.id)
		if withDelete {
			require.False(t, ok, "permutation %d: row survives deletion: %+v", p, row)
			require.True(t, h.tombstoned(pl.id), "permutation %d", p)
			return
		}
		require.True(t, ok, "permutation %d", p)
		require.False(t, h.tombstoned(pl.id))
		require.Equal(t, "v4", deref(row.FirstName), "permutation %d", p)
		require.Equal(t, fmt.Sprintf("v4.%s@example.com", pl.id), deref(row.Email), "permutation %d", p)
		require.EqualValues(t, 4_000, row.UpdatedAtMS, "permutation %d", p)
		require.Equal(t, "applied", h.mustEvent(pl.events[3].msgID).Status, "v4 always applies")
	}

	for _, withDelete := range []bool{true, false} {
		name := map[bool]string{true: "with delete", false: "without delete"}[withDelete]
		stream := map[bool]uint64{true: 1, false: 2}[withDelete]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			plans := makePlans(withDelete, rand.New(rand.NewPCG(seed, stream)))
			for w := range workers {
				t.Run(fmt.Sprint("worker", w), func(t *testing.T) {
					t.Parallel()
					h := h.with(t)
					for p := w; p < len(plans); p += workers {
						check(t, h, p, plans[p], withDelete)
					}
				})
			}
		})
	}
}

// TestRequestAndWebhookRace: the auth middleware's upsert and a
// user.created webhook for the same user at the same moment both succeed
// and leave one row.
func TestRequestAndWebhookRace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{Phase: user.PhaseBeta})

	const users = 10
	for i := range users {
		u := h.Emu.CreateUser(clerkemu.UserParams{
			FirstName: str(fmt.Sprint("Race", i)),
			Email:     str(fmt.Sprintf("race%d@example.com", i)),
		})
		token, err := h.Emu.MintToken(u.ID, clerkemu.TokenOptions{})
		require.NoError(t, err)
		data, err := json.Marshal(u)
		require.NoError(t, err)
		body, err := json.Marshal(map[string]any{
			"type": "user.created", "object": "event", "timestamp": time.Now().UnixMilli(),
			"instance_id": "ins_test", "data": json.RawMessage(data),
		})
		require.NoError(t, err)
		msgID := newMsgID()
		hdr := h.sign(msgID, body)

		var (
			wg                   sync.WaitGroup
			meStatus, hookStatus int
			meBody, hookBody     []byte
			meErr, hookErr       error
			start                = make(chan struct{})
		)
		wg.Go(func() {
			<-start
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, h.Server.URL+"/api/me", nil)
			if err != nil {
				meErr = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				meErr = err
				return
			}
			defer resp.Body.Close()
			meStatus = resp.StatusCode
			var buf bytes.Buffer
			_, meErr = buf.ReadFrom(resp.Body)
			meBody = buf.Bytes()
		})
		wg.Go(func() {
			<-start
			hookStatus, hookBody, hookErr = postTo(h.webhookURL(), bytes.NewReader(body), hdr)
		})
		close(start)
		wg.Wait()

		require.NoError(t, meErr)
		require.NoError(t, hookErr)
		require.Equal(t, http.StatusOK, meStatus, "GET /api/me: %s", meBody)
		require.Equal(t, http.StatusOK, hookStatus, "webhook: %s", hookBody)
		a := parseAnswer(t, hookBody)
		require.Contains(t, []string{"applied", "stale"}, a.Status)
		var me struct {
			ClerkID   string  `json:"clerk_id"`
			FirstName *string `json:"first_name"`
		}
		require.NoError(t, json.Unmarshal(meBody, &me))
		require.Equal(t, u.ID, me.ClerkID)
		require.Equal(t, fmt.Sprint("Race", i), deref(me.FirstName))

		row, ok := h.user(u.ID)
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("race%d@example.com", i), deref(row.Email))
	}
	require.Equal(t, users, h.count("users"))
	require.Equal(t, users, h.count("webhook_events"))
}

// TestTwoInstances: two app instances on one database receive the same
// deliveries at once; every effect happens once.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	a := newHarness(t, harnessOptions{})
	b := newHarness(t, harnessOptions{DBURL: a.DBURL, SecretList: a.Secrets})

	const users = 15
	var all []delivery
	ids := make([]string, users)
	for i := range users {
		ids[i] = newUserID()
		all = append(all,
			delivery{newMsgID(), userEvent(t, "user.created", ids[i], 1_000, "c", "")},
			delivery{newMsgID(), userEvent(t, "user.updated", ids[i], 2_000, "u", fmt.Sprintf("u%d@example.com", i))},
		)
		if i%3 == 0 {
			all = append(all, delivery{newMsgID(), deletedEvent(t, ids[i])})
		}
	}

	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make(chan result, 2*len(all))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range all {
		for _, h := range []*harness{a, b} {
			hdr := h.sign(d.msgID, d.body)
			wg.Go(func() {
				<-start
				s, body, err := postTo(h.webhookURL(), bytes.NewReader(d.body), hdr)
				results <- result{s, body, err}
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)

	duplicates := 0
	for r := range results {
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		if parseAnswer(t, r.body).Status == "duplicate" {
			duplicates++
		}
	}
	require.Equal(t, len(all), duplicates, "one of each pair is a duplicate")
	require.Equal(t, len(all), a.count("webhook_events"))
	for _, d := range all {
		require.Equal(t, 2, a.mustEvent(d.msgID).Attempts)
	}
	for i, id := range ids {
		row, ok := a.user(id)
		if i%3 == 0 {
			require.False(t, ok)
			require.True(t, a.tombstoned(id))
			continue
		}
		require.True(t, ok)
		require.Equal(t, "u", deref(row.FirstName))
		require.EqualValues(t, 2_000, row.UpdatedAtMS)
	}
	require.Equal(t, users-(users+2)/3, a.count("users"))
}
