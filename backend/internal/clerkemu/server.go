// Package clerkemu is a local stand-in for Clerk's Backend API. It keeps
// users in memory, signs session tokens with its own RSA key, publishes
// that key as a JWKS and delivers Svix-signed webhooks, so that tests,
// benchmarks and local development need no Clerk account. The real
// clerk-sdk-go client talks to it once its base URL points here.
package clerkemu

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	svix "github.com/svix/svix-webhooks/go"
)

// DefaultIssuer is the token issuer used when Options.Issuer is empty.
const DefaultIssuer = "https://clerk.clerksync.localhost"

// maxBodyBytes bounds request bodies; larger ones get 413.
const maxBodyBytes = 1 << 20

// Route names, as counted by Requests and targeted by FailNext.
const (
	// RouteJWKS names GET /jwks.
	RouteJWKS = "jwks"
	// RouteGetUser names GET /users/{id}.
	RouteGetUser = "get_user"
	// RouteListUsers names GET /users.
	RouteListUsers = "list_users"
	// RouteCreateUser names POST /users.
	RouteCreateUser = "create_user"
	// RouteUpdateUser names PATCH /users/{id}.
	RouteUpdateUser = "update_user"
	// RouteDeleteUser names DELETE /users/{id}.
	RouteDeleteUser = "delete_user"
	// RouteCountUsers names GET /users/count.
	RouteCountUsers = "count_users"
	// RouteBanUser names POST /users/{id}/ban.
	RouteBanUser = "ban_user"
	// RouteUnbanUser names POST /users/{id}/unban.
	RouteUnbanUser = "unban_user"
	// RouteMintToken names the dev-only POST /dev/tokens.
	RouteMintToken = "mint_token"
	// RouteNotFound names every path that matches no route.
	RouteNotFound = "not_found"
)

// Options configures a Server.
type Options struct {
	// SecretKey is the bearer token required on Backend API paths.
	SecretKey string
	// Issuer is the "iss" of minted tokens; DefaultIssuer when empty.
	Issuer string
	// WebhookURL receives webhook deliveries; empty disables delivery.
	WebhookURL string
	// WebhookSecret ("whsec_<base64>") signs deliveries the Svix way.
	WebhookSecret string
	// RetrySchedule holds the delays before each retry of a failed
	// delivery; nil means the Svix-like default, an empty slice means
	// no retries.
	RetrySchedule []time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// HTTPClient delivers webhooks; nil means a client with a 15s
	// timeout.
	HTTPClient *http.Client
}

// DefaultRetrySchedule is the delay before each webhook retry when
// Options.RetrySchedule is nil.
var DefaultRetrySchedule = []time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// Server is an in-memory emulation of Clerk's Backend API whose methods
// are all safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	signer  *svix.Webhook
	handler http.Handler

	mu    sync.Mutex
	users map[string]*clerk.User
	order []orderKey
	seq   int64

	keyMu sync.RWMutex
	key   *rsa.PrivateKey
	kid   string

	statMu   sync.Mutex
	counts   map[string]int64
	failures map[string]failRule

	delivMu    sync.Mutex
	deliveries []Delivery

	closeMu sync.Mutex
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// failRule is an injected failure armed by FailNext.
type failRule struct {
	status     int
	remaining  int
	retryAfter time.Duration
}

// New returns a Server with a fresh RSA signing key and no users.
func New(opts Options) (*Server, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}

	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		users:    make(map[string]*clerk.User),
		counts:   make(map[string]int64),
		failures: make(map[string]failRule),
	}

	if opts.WebhookURL != "" {
		s.signer, err = svix.NewWebhook(opts.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("parse webhook secret: %w", err)
		}
	}

	s.key, s.kid, err = newSigningKey()
	if err != nil {
		return nil, err
	}

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s, nil
}

// withDefaults validates opts and fills in the defaults.
func withDefaults(opts Options) (Options, error) {
	if opts.SecretKey == "" {
		return opts, errors.New("clerkemu: secret key is required")
	}

	if opts.WebhookURL != "" && opts.WebhookSecret == "" {
		return opts, errors.New("clerkemu: webhook secret is required")
	}

	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}

	if opts.RetrySchedule == nil {
		opts.RetrySchedule = DefaultRetrySchedule
	}
	opts.RetrySchedule = slices.Clone(opts.RetrySchedule)

	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return opts, nil
}

// Handler returns the HTTP handler of the emulated API, which serves
// every path both at the root and under "/v1" like api.clerk.com.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Close stops webhook deliveries, cancels pending retries and waits for
// the delivery goroutines to finish.
func (s *Server) Close() {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()

	s.cancel()
	s.wg.Wait()
}

// routes builds the ServeMux with all the emulated endpoints.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, s.wrap(name, true, h))
	}

	api("GET /jwks", RouteJWKS, s.handleJWKS)
	api("GET /users", RouteListUsers, s.handleListUsers)
	api("GET /users/count", RouteCountUsers, s.handleCountUsers)
	api("GET /users/{id}", RouteGetUser, s.handleGetUser)
	api("POST /users", RouteCreateUser, s.handleCreateUser)
	api("PATCH /users/{id}", RouteUpdateUser, s.handleUpdateUser)
	api("DELETE /users/{id}", RouteDeleteUser, s.handleDeleteUser)
	api("POST /users/{id}/ban", RouteBanUser, s.handleBan(true))
	api("POST /users/{id}/unban", RouteUnbanUser, s.handleBan(false))

	// Dev-only routes: no bearer check, never part of Clerk's API.
	mux.Handle("POST /dev/tokens",
		s.wrap(RouteMintToken, false, s.handleDevToken))
	mux.HandleFunc("GET /dev/stats", s.handleStats)

	mux.Handle("/", s.wrap(RouteNotFound, false, s.handleNotFound))

	v1 := http.StripPrefix("/v1", mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			v1.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// wrap counts the request, checks the bearer when auth is set, applies
// injected failures and the body limit, then calls h.
func (s *Server) wrap(
	name string, auth bool, h http.HandlerFunc,
) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count(name)
		s.log.Debug("clerkemu request", "route", name,
			"method", r.Method, "path", r.URL.Path)

		if auth && !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "authentication_invalid",
				"Invalid authentication",
				"Missing or invalid Authorization bearer secret key.")
			return
		}

		if rule, ok := s.takeFailure(name); ok {
			writeInjected(w, rule)
			return
		}

		if r.ContentLength > maxBodyBytes {
			writeTooLarge(w)
			return
		}

		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h(w, r)
	})
}

// authorized reports whether r carries the secret key as bearer.
func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}

	want := s.opts.SecretKey
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// count records one served request for the route name.
func (s *Server) count(name string) {
	s.statMu.Lock()
	s.counts[name]++
	s.statMu.Unlock()
}

// Requests returns how many requests the named route has received,
// including rejected and failure-injected ones.
func (s *Server) Requests(name string) int64 {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	return s.counts[name]
}

// Total returns how many requests all routes together have received.
func (s *Server) Total() int64 {
	s.statMu.Lock()
	defer s.statMu.Unlock()

	var n int64
	for _, c := range s.counts {
		n += c
	}
	return n
}

// ResetCounts sets every request counter back to zero.
func (s *Server) ResetCounts() {
	s.statMu.Lock()
	clear(s.counts)
	s.statMu.Unlock()
}

// counts returns a copy of the request counters.
func (s *Server) countsCopy() map[string]int64 {
	s.statMu.Lock()
	defer s.statMu.Unlock()

	out := make(map[string]int64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// FailNext makes the next n authorized requests to the route answer
// status with a Clerk JSON error, with a Retry-After header of
// retryAfter rounded up to whole seconds when it is positive, or
// disarms the route when n <= 0.
func (s *Server) FailNext(
	route string, status int, n int, retryAfter time.Duration,
) {
	s.statMu.Lock()
	defer s.statMu.Unlock()

	if n <= 0 {
		delete(s.failures, route)
		return
	}
	s.failures[route] = failRule{
		status:     status,
		remaining:  n,
		retryAfter: retryAfter,
	}
}

// takeFailure consumes one injected failure for the route, if armed.
func (s *Server) takeFailure(route string) (failRule, bool) {
	s.statMu.Lock()
	defer s.statMu.Unlock()

	rule, ok := s.failures[route]
	if !ok {
		return failRule{}, false
	}

	rule.remaining--
	if rule.remaining <= 0 {
		delete(s.failures, route)
	} else {
		s.failures[route] = rule
	}
	return rule, true
}

// writeInjected answers with the injected failure rule.
func writeInjected(w http.ResponseWriter, rule failRule) {
	if rule.retryAfter > 0 {
		secs := math.Ceil(rule.retryAfter.Seconds())
		w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
	}

	code := errorCode(rule.status)
	writeError(w, rule.status, code, http.StatusText(rule.status),
		"Failure injected by the Clerk emulator.")
}

// errorCode picks a Clerk-like error code for an HTTP status.
func errorCode(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "too_many_requests"
	case status == http.StatusNotFound:
		return "resource_not_found"
	case status == http.StatusUnauthorized:
		return "authentication_invalid"
	case status >= 500:
		return "internal_clerk_error"
	default:
		return "emulated_error"
	}
}

// handleNotFound answers unknown paths.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "resource_not_found",
		"not found", "No route matches "+r.Method+" "+r.URL.Path+".")
}

// handleStats serves the request counters (dev only).
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	users := len(s.users)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"requests": s.countsCopy(),
		"total":    s.Total(),
		"users":    users,
	})
}

// Run serves a new Server's Handler on addr until ctx is done, after
// printing one line with the base URL to stdout.
func Run(
	ctx context.Context, addr string, opts Options, stdout io.Writer,
) error {
	emu, err := New(opts)
	if err != nil {
		return err
	}
	defer emu.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	base := baseURL(ln.Addr())
	fmt.Fprintf(stdout, "clerk emulator listening on %s\n", base)
	emu.log.Info("clerk emulator started", "base_url", base)

	return serve(ctx, ln, emu.Handler())
}

// serve runs an http.Server on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	shutCtx, cancel := context.WithTimeout(context.Background(),
		5*time.Second)
	defer cancel()

	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// baseURL turns a listener address into an http URL, replacing an
// unspecified host with localhost.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}

	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
