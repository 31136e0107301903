package app_test

// The operations page in a real browser: headless Chromium, driven over
// the DevTools protocol, against a running clerksync. It signs in as an
// admin, reads the event log, opens a failed event, replays it, and takes
// screenshots at laptop and phone sizes.
//
// The browser is Debian's chromium at /usr/bin/chromium; as root,
// scripts/install-browser.sh installs it. Without it the test is skipped,
// except under CI, where it fails.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips the test when the browser is missing on a
// developer's machine, and fails it under CI, where it must be there.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skipf("skipping the browser test: no browser at %s "+
			"(run scripts/install-browser.sh as root to install Debian's chromium)", chromiumPath)
	}
	t.Fatalf("no browser at %s and CI is set: CI must run scripts/install-browser.sh "+
		"before the tests", chromiumPath)
}

// artifactsDir is where screenshots go: $TEST_ARTIFACTS when set, else a
// directory removed with the test.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots of the operations page go to %s", dir)
	return dir
}

// browserTab is one headless Chromium tab, with what the page logged.
type browserTab struct {
	t         *testing.T
	ctx       context.Context
	artifacts string

	mu       sync.Mutex
	console  []string // every message, shown when a wait fails
	problems []string // script exceptions and policy violations
	dialogs  []string // the messages of the confirm() dialogs accepted
}

// newBrowserTab starts a fresh browser with its own profile, closed when
// t ends, and opens one tab at 1366×768.
func newBrowserTab(t *testing.T, artifacts string) *browserTab {
	t.Helper()
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 768),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	// Runs before the profile directory is removed.
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})

	b := &browserTab{t: t, ctx: ctx, artifacts: artifacts}
	require.NoError(t, chromedp.Listen(ctx, b.note))
	// The window's size includes the browser's own bars: set the page's.
	b.do(chromedp.EmulateViewport(1366, 768))

	// confirm() blocks the page until answered: accept each one.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// note keeps what the page said. Failed requests (the 401 that shows the
// sign-in panel) are expected; exceptions and refusals by the page's
// Content-Security-Policy are not.
func (b *browserTab) note(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		line := fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		b.console = append(b.console, line)
		b.problems = append(b.problems, line)
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		b.console = append(b.console, line)
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			b.problems = append(b.problems, line)
		}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		line := fmt.Sprintf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL)
		b.console = append(b.console, line)
		if e.Source == cdplog.EntrySourceSecurity ||
			strings.Contains(e.Text, "Content Security Policy") ||
			e.Source == cdplog.EntrySourceJavascript && e.Level == cdplog.EntryLevelError {
			b.problems = append(b.problems, line)
		}
	}
}

// do runs actions, failing the test on an error.
func (b *browserTab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

// eval evaluates a JavaScript expression and decodes its value.
func evalJS[T any](b *browserTab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

// js quotes s as a JavaScript string.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// visibleJS is an expression that holds when sel matches a shown element.
func visibleJS(sel string) string {
	return fmt.Sprintf(`(() => { const n = document.querySelector(%s);
		return !!n && !n.closest('[hidden]') && n.getClientRects().length > 0; })()`, js(sel))
}

// text returns the textContent of the first match of sel, or "".
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ''`, js(sel)))
}

// count returns how many elements match sel.
func (b *browserTab) count(sel string) int {
	b.t.Helper()
	return evalJS[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(sel)))
}

func (b *browserTab) visible(sel string) bool {
	b.t.Helper()
	return evalJS[bool](b, visibleJS(sel))
}

// waitJS waits until the expression is truthy, and fails with the page's
// shown errors and console when it does not become so.
func (b *browserTab) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("timed out waiting for %s (last error: %v)\n%s", what, err, b.diagnostics())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browserTab) waitVisible(sel string) {
	b.t.Helper()
	b.waitJS(sel+" to show", visibleJS(sel))
}

// diagnostics returns the messages the page shows and what it logged.
func (b *browserTab) diagnostics() string {
	shown, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('.error, .notice, [role=alert]')]
			.filter(n => !n.hidden && n.textContent.trim())
			.map(n => '#' + n.id + ': ' + n.textContent.trim())`))
	b.mu.Lock()
	defer b.mu.Unlock()
	return "page shows:\n  " + strings.Join(shown, "\n  ") +
		"\nbrowser console:\n  " + strings.Join(b.console, "\n  ")
}

// click waits for sel to show, then clicks it with the mouse.
func (b *browserTab) click(sel string) {
	b.t.Helper()
	b.waitVisible(sel)
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// fullPage is a PNG of the whole page at the current viewport width.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	w, h := 0.0, 0.0
	if m.CSSContentSize != nil {
		w, h = m.CSSContentSize.Width, m.CSSContentSize.Height
	}
	if m.CSSLayoutViewport != nil {
		w = max(w, float64(m.CSSLayoutViewport.ClientWidth))
		h = max(h, float64(m.CSSLayoutViewport.ClientHeight))
	}
	r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: w, Height: h, Scale: 1},
		CaptureBeyondViewport: ptr(true),
		FromSurface:           ptr(true),
	})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// screenshot saves a full-page PNG under the artefacts directory.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	// From the top, so that the sticky bar is drawn where it belongs.
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.save(name, chromedp.Action[[]byte](fullPage))
}

// viewportShot saves a PNG of what the viewport shows: the view of an
// open dialog, which a full-page capture would stretch.
func (b *browserTab) viewportShot(name string) {
	b.t.Helper()
	b.save(name, chromedp.CaptureScreenshot())
}

func (b *browserTab) save(name string, shot chromedp.Action[[]byte]) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, shot)
	require.NoError(b.t, err)
	path := filepath.Join(b.artifacts, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot %s", path)
}

// signIn pastes token into the sign-in panel and submits it.
func (b *browserTab) signIn(token string) {
	b.t.Helper()
	b.waitVisible("#token")
	b.do(chromedp.SetValue(chromedp.ID("token"), token))
	b.click("#signin-button")
}

// requireNoData checks that the page shows and holds no operations data.
func (b *browserTab) requireNoData() {
	b.t.Helper()
	require.False(b.t, b.visible("#dashboard"), "the dashboard must be hidden")
	for _, sel := range []string{"#health-cards > *", "#health-warnings > *", "#events-body > *",
		"#replay-body > *", "#jobs-body > *", "#reconcile-report > *", "#detail-facts > *"} {
		require.Zero(b.t, b.count(sel), "%s must be empty", sel)
	}
	require.Empty(b.t, b.text("#payload"))
}

func (b *browserTab) requireNoProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.problems, "the page logged errors")
}

func TestOpsPageInBrowser(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	h := newHarness(t, user.PhaseProduction)

	admin := h.emu.CreateUser(clerkemuAdmin())
	adminToken := h.mint(t, admin.ID, clerkemuTokenOptions())
	member := h.emu.CreateUser(clerkemuParams("member@example.com", "Mo", "Member"))
	memberToken := h.mint(t, member.ID, clerkemuTokenOptions())

	// A few events, one of them unusable: a user without updated_at.
	const failedID = "msg_ops_failed"
	const failedEmail = "ops.failed@example.com"
	applied := withEmail("user_ops1", "ops1@example.com", "Opal", 1_000)
	newer := withEmail("user_ops1", "ops1@example.com", "Opaline", 3_000)
	older := withEmail("user_ops1", "ops1@example.com", "Opal", 2_000)
	broken := withEmail("user_ops_bad", failedEmail, "Faye", 0)
	broken["updated_at"] = nil
	// Markup in the data must show as text, never run.
	const markupID = "msg_ops_markup"
	const markupUser = `user_<img src=x onerror="window.__injected=1">`
	markup := withEmail(markupUser, "markup@example.com", `<b onmouseover="window.__injected=1">Mark</b>`, 0)
	markup["updated_at"] = nil
	session, err := webhook.Example("session.created")
	require.NoError(t, err)
	// In this order: the older update comes after the newer one.
	for _, d := range []struct {
		id   string
		body []byte
	}{
		{"msg_ops_created", userEvent(t, "user.created", applied)},
		{"msg_ops_updated", userEvent(t, "user.updated", newer)},
		{"msg_ops_stale", userEvent(t, "user.updated", older)},
		{"msg_ops_session", session},
		{failedID, userEvent(t, "user.created", broken)},
		{markupID, userEvent(t, "user.created", markup)},
	} {
		require.Equal(t, http.StatusOK, h.deliver(t, d.body, d.id), d.id)
	}
	require.Equal(t, 1, h.count(t,
		`SELECT count(*) FROM webhook_events WHERE svix_id = $1 AND status = 'failed'`, failedID))
	require.Equal(t, 1, h.count(t,
		`SELECT count(*) FROM webhook_events WHERE svix_id = 'msg_ops_stale' AND status = 'stale'`))

	b := newBrowserTab(t, artifactsDir(t))

	// Not signed in: the sign-in panel, and nothing else.
	b.do(chromedp.Navigate(h.url + "/ops"))
	b.waitVisible("#signin")
	require.Contains(t, b.text("#signin"), "window.Clerk.session.getToken()")
	b.requireNoData()
	b.screenshot("ops-1366x768-signin")

	// A signed-in user who is not an admin is refused and sees no data.
	b.signIn(memberToken)
	b.waitJS("the refusal of a non-admin", visibleJS("#signin-error")+
		` && document.querySelector('#signin-error').textContent.includes('403')`)
	require.True(t, b.visible("#signin"))
	b.requireNoData()

	// The admin signs in.
	b.signIn(adminToken)
	b.waitVisible("#health-cards .card")
	b.waitJS("the event log", `document.querySelectorAll('#events-body tr[data-svix-id]').length >= 6`)
	require.False(t, b.visible("#signin"))
	require.Contains(t, b.text(`#health-cards [data-card="phase"]`), "production")
	require.True(t, b.visible(`#events-body tr[data-svix-id="`+failedID+`"] button.replay`),
		"a failed event has a Replay button")
	require.False(t, b.visible(`#events-body tr[data-svix-id="msg_ops_created"] button.replay`),
		"an applied event has none")
	require.Empty(t, b.text("#events-error"))
	require.Contains(t, b.text(`#events-body tr[data-svix-id="`+markupID+`"]`), markupUser)
	require.Zero(t, b.count(`#events-body img, #events-body b`), "data is shown as text")
	b.waitJS("the failed jobs section", visibleJS("#jobs-empty")+" || "+visibleJS("#jobs-body tr")+
		" || "+visibleJS("#jobs-error"))
	b.waitJS("the reconcile section", visibleJS("#reconcile-empty")+" || "+visibleJS("#reconcile-report")+
		" || "+visibleJS("#reconcile-error"))
	b.screenshot("ops-1366x768-dashboard")

	// Only failed events.
	b.do(chromedp.SetValue(chromedp.ID("filter-status"), "failed"))
	b.click("#filter-apply")
	b.waitJS("the failed events only", `(() => {
		const rows = [...document.querySelectorAll('#events-body tr[data-svix-id]')];
		return rows.length > 0 && rows.every(r => r.dataset.status === 'failed');
	})()`)
	require.Equal(t, 1, b.count(`#events-body tr[data-svix-id="`+failedID+`"]`))
	require.Equal(t, 2, b.count(`#events-body tr[data-svix-id]`))

	// Its detail: personal data hidden until revealed on purpose.
	b.click(`#events-body tr[data-svix-id="` + failedID + `"] td[data-label="Type"]`)
	b.waitVisible("#detail-body")
	require.Contains(t, b.text("#detail-facts"), failedID)
	require.Contains(t, b.text("#detail-facts"), "failed")
	require.True(t, b.visible("#detail-replay"))
	require.NotContains(t, b.text("#detail"), failedEmail, "the payload is redacted by default")
	if b.visible("#payload-reveal") {
		b.click("#payload-reveal")
		b.waitJS("the revealed payload", `document.querySelector('#payload').textContent.includes(`+js(failedEmail)+`)`)
		b.mu.Lock()
		require.Len(t, b.dialogs, 1, "revealing asks first")
		b.mu.Unlock()
	} else {
		t.Errorf("the detail of %s offers no Reveal button (payload state %q)", failedID, b.text("#payload-state"))
	}

	// Replay it: the same unusable data fails again, and the page says so.
	b.click("#detail-replay")
	b.waitJS("the replay result", visibleJS("#detail-replay-result")+
		` && document.querySelector('#detail-replay-result').textContent.includes(`+js(failedID)+`)`)
	require.Contains(t, b.text("#detail-replay-result"), "failed")
	b.waitVisible(`#replay-body tr[data-svix-id="` + failedID + `"]`)
	b.waitJS("the replay in the history", `document.querySelectorAll('#history-body tr').length >= 1`)
	b.viewportShot("ops-1366x768-detail")

	b.click("#detail-close")
	b.waitJS("the detail to close", `!document.querySelector('#detail').open`)
	require.Empty(t, b.text("#payload"), "a closed detail keeps no personal data in the page")

	// Replay every failed event of the filter's dates.
	today := time.Now().UTC()
	b.do(chromedp.SetValue(chromedp.ID("filter-from"), today.AddDate(0, 0, -1).Format(time.DateOnly)),
		chromedp.SetValue(chromedp.ID("filter-to"), today.AddDate(0, 0, 1).Format(time.DateOnly)))
	b.click("#replay-range")
	b.waitJS("the range replay's summary", visibleJS("#replay-summary")+
		` && document.querySelector('#replay-summary').textContent.includes('Replayed 2 failed events ')`)
	require.Empty(t, b.text("#replay-error"))
	b.mu.Lock()
	require.Len(t, b.dialogs, 2, "a range replay asks first")
	b.mu.Unlock()

	// A phone: tables become stacked cards, and nothing is wider than it.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	b.waitJS("the phone layout", `window.innerWidth === 390`)
	require.Equal(t, "block", evalJS[string](b,
		`getComputedStyle(document.querySelector('#events-body tr')).display`), "stacked rows")
	require.LessOrEqual(t, evalJS[int](b, `document.documentElement.scrollWidth`), 390,
		"nothing overflows the phone's width")
	b.screenshot("ops-390x844-dashboard")
	b.click(`#events-body tr[data-svix-id="` + failedID + `"] td[data-label="Type"]`)
	b.waitVisible("#detail-body")
	require.LessOrEqual(t, evalJS[int](b, `document.querySelector('#detail').getBoundingClientRect().width`), 390)
	b.viewportShot("ops-390x844-detail")
	b.click("#detail-close")

	// Signing out forgets everything shown.
	b.do(chromedp.EmulateViewport(1366, 768))
	b.click("#signout")
	b.waitVisible("#signin")
	b.requireNoData()
	b.do(chromedp.Reload())
	b.waitVisible("#signin")
	b.requireNoData()

	require.False(t, evalJS[bool](b, `window.__injected === 1`), "markup from the data ran")
	b.requireNoProblems()
}
