package clerkapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"
	jose "github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Reasons a session token is refused; each is a metric label and the
// error code sent to the client.
const (
	ReasonMissing         = "token_missing"
	ReasonTooLarge        = "token_too_large"
	ReasonMalformed       = "token_malformed"
	ReasonBadAlgorithm    = "token_bad_algorithm"
	ReasonUnknownKey      = "token_unknown_key"
	ReasonBadSignature    = "token_bad_signature"
	ReasonExpired         = "token_expired"
	ReasonNotYetValid     = "token_not_yet_valid"
	ReasonBadIssuer       = "token_bad_issuer"
	ReasonBadParty        = "token_bad_authorized_party"
	ReasonKeysUnavailable = "auth_keys_unavailable"
)

// MaxTokenBytes bounds a session token; Clerk's are about 1 KB, and
// custom claims rarely pass 4 KB.
const MaxTokenBytes = 16 << 10

// TokenError is a refused token with its reason.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *TokenError) Unwrap() error { return e.Err }

func refuse(reason string, err error) error {
	return &TokenError{Reason: reason, Err: err}
}

// Claims is what clerksync uses of a verified session token.
type Claims struct {
	UserID          string
	SessionID       string
	AuthorizedParty string
	ExpiresAt       time.Time
}

// Verifier checks Clerk session tokens. Keys are cached by kid; an
// unknown kid triggers at most one JWKS fetch per RefetchInterval.
type Verifier struct {
	jwks            *jwks.Client
	parties         []string
	leeway          time.Duration
	refetchInterval time.Duration
	now             func() time.Time

	fetches singleflight.Group
	mu      sync.RWMutex
	keys    map[string]*clerk.JSONWebKey
	fetched time.Time
	lastErr error

	// verified remembers tokens that passed every check, by their
	// SHA-256, so that a client repeating one within its minute of life
	// costs no RSA verification. An entry is used only until the token's
	// own expiry plus the leeway; a key removed from the JWKS in the
	// meantime does not revoke it, as with any stateless token.
	verified *lru.Cache[[sha256.Size]byte, Claims]
}

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	// AuthorizedParties lists the front-end origins allowed in azp. A
	// token without azp is accepted; an empty list accepts any azp.
	AuthorizedParties []string
	Leeway            time.Duration
	// RefetchInterval is the least time between two JWKS fetches
	// (default 5s).
	RefetchInterval time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
}

// NewVerifier returns a Verifier that fetches keys through client's
// Backend API configuration.
func NewVerifier(client *Client, opts VerifierOptions) *Verifier {
	v := &Verifier{
		jwks:            jwks.NewClient(client.Config()),
		parties:         opts.AuthorizedParties,
		leeway:          opts.Leeway,
		refetchInterval: opts.RefetchInterval,
		now:             opts.Now,
		keys:            map[string]*clerk.JSONWebKey{},
	}
	v.verified, _ = lru.New[[sha256.Size]byte, Claims](verifiedCacheSize)
	if v.refetchInterval == 0 {
		v.refetchInterval = 5 * time.Second
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Verify checks the token's signature, times, issuer and authorized party
// and returns its claims. Every failure is a *TokenError; its reason is
// ReasonKeysUnavailable when the keys could not be fetched at all.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, refuse(ReasonMissing, errors.New("no session token"))
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse(ReasonTooLarge, fmt.Errorf("token over %d bytes", MaxTokenBytes))
	}

	sum := sha256.Sum256([]byte(token))
	if c, ok := v.verified.Get(sum); ok {
		if v.now().Before(c.ExpiresAt.Add(v.leeway)) {
			return &c, nil
		}
		v.verified.Remove(sum)
	}
	claims, err := v.verify(ctx, token)
	if err == nil {
		v.verified.Add(sum, *claims)
	}
	return claims, err
}

// verifiedCacheSize bounds the verified-token cache (about 200 bytes an
// entry).
const verifiedCacheSize = 50_000

// verify does every check of Verify.
func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	parsed, err := josejwt.ParseSigned(token)
	if err != nil || len(parsed.Headers) != 1 {
		return nil, refuse(ReasonMalformed, fmt.Errorf("parse: %v", err))
	}
	header := parsed.Headers[0]
	if header.Algorithm != string(jose.RS256) {
		return nil, refuse(ReasonBadAlgorithm, fmt.Errorf("alg %q", header.Algorithm))
	}
	if header.KeyID == "" {
		return nil, refuse(ReasonMalformed, errors.New("no kid"))
	}

	key, err := v.key(ctx, header.KeyID)
	if err != nil {
		return nil, err
	}

	// The issuer is checked below rather than by the SDK, so that a wrong
	// issuer gets a reason of its own.
	claims, err := jwt.Verify(ctx, &jwt.VerifyParams{
		Token:       token,
		JWK:         key,
		Leeway:      v.leeway,
		Clock:       clock{v.now},
		IsSatellite: true,
	})
	if err != nil {
		return nil, classify(err)
	}
	return v.check(claims)
}

// check applies what the SDK leaves to the caller.
func (v *Verifier) check(c *clerk.SessionClaims) (*Claims, error) {
	switch {
	case !clerkID.MatchString(c.Subject):
		return nil, refuse(ReasonMalformed, errors.New("sub is not a Clerk user id"))
	case c.Expiry == nil:
		return nil, refuse(ReasonMalformed, errors.New("no exp"))
	case !validIssuer(c.Issuer):
		return nil, refuse(ReasonBadIssuer, fmt.Errorf("issuer %q", c.Issuer))
	case c.AuthorizedParty != "" && len(v.parties) > 0 &&
		!slices.Contains(v.parties, strings.ToLower(strings.TrimSuffix(c.AuthorizedParty, "/"))):
		return nil, refuse(ReasonBadParty, fmt.Errorf("azp %q", c.AuthorizedParty))
	}
	return &Claims{
		UserID:          c.Subject,
		SessionID:       c.SessionID,
		AuthorizedParty: c.AuthorizedParty,
		ExpiresAt:       time.Unix(*c.Expiry, 0),
	}, nil
}

// clerkID is the shape of Clerk's ids ("user_2abc…"); anything else in
// sub would end up in a Backend API path.
var clerkID = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)

// validIssuer is the rule clerk-sdk-go applies to Clerk's issuers.
func validIssuer(iss string) bool {
	return strings.HasPrefix(iss, "https://clerk.") ||
		strings.Contains(iss, ".clerk.accounts")
}

func classify(err error) error {
	switch {
	case errors.Is(err, josejwt.ErrExpired):
		return refuse(ReasonExpired, err)
	case errors.Is(err, josejwt.ErrNotValidYet),
		errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return refuse(ReasonNotYetValid, err)
	}
	return refuse(ReasonBadSignature, err)
}

// key returns the cached key for kid, fetching the JWKS when kid is new
// and the last fetch is older than the refetch interval.
func (v *Verifier) key(ctx context.Context, kid string) (*clerk.JSONWebKey, error) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	recent := !v.fetched.IsZero() && v.now().Sub(v.fetched) < v.refetchInterval
	lastErr := v.lastErr
	v.mu.RUnlock()

	switch {
	case ok:
		return k, nil
	case recent && lastErr != nil:
		return nil, refuse(ReasonKeysUnavailable, lastErr)
	case recent:
		return nil, refuse(ReasonUnknownKey, fmt.Errorf("kid %q", kid))
	}

	v.fetches.Do("jwks", func() (any, error) {
		// Callers share this fetch: one caller's cancellation must not
		// fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v.refresh(ctx)
		return nil, nil
	})

	v.mu.RLock()
	defer v.mu.RUnlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if v.lastErr != nil {
		return nil, refuse(ReasonKeysUnavailable, v.lastErr)
	}
	return nil, refuse(ReasonUnknownKey, fmt.Errorf("kid %q", kid))
}

// refresh replaces the key set; on failure it keeps the old keys.
func (v *Verifier) refresh(ctx context.Context) {
	set, err := v.jwks.Get(ctx, &jwks.GetParams{})

	v.mu.Lock()
	defer v.mu.Unlock()
	v.fetched = v.now()
	if err != nil {
		v.lastErr = fmt.Errorf("fetch jwks: %w", err)
		return
	}
	v.lastErr = nil
	keys := make(map[string]*clerk.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k != nil && k.KeyID != "" {
			keys[k.KeyID] = k
		}
	}
	v.keys = keys
}

// clock adapts a now function to clerk.Clock.
type clock struct{ now func() time.Time }

func (c clock) Now() time.Time { return c.now() }
