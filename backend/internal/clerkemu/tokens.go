package clerkemu

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// defaultTokenTTL is the lifetime of a minted token when none is given.
const defaultTokenTTL = 60 * time.Second

// TokenOptions tunes a token minted by MintToken.
type TokenOptions struct {
	// AuthorizedParty is the "azp" claim; omitted when empty.
	AuthorizedParty string
	// TTL is the lifetime from IssuedAt; 60s when zero.
	TTL time.Duration
	// IssuedAt is the "iat" claim; now when zero.
	IssuedAt time.Time
	// NotBefore is the "nbf" claim; IssuedAt when nil.
	NotBefore *time.Time
	// Issuer overrides the server's issuer.
	Issuer string
	// SessionID is the "sid" claim; a random "sess_" id when empty.
	SessionID string
}

// MintToken returns an RS256 Clerk v2 session JWT for userID, who need
// not exist, signed with the current key.
func (s *Server) MintToken(userID string, o TokenOptions) (string, error) {
	key, kid := s.signingKey()
	return s.SignWith(s.sessionClaims(userID, o), kid, key)
}

// SignWith signs arbitrary claims as an RS256 JWT with key (the current
// key when nil) and a kid header (left out when empty), for forging
// tokens in tests.
func (s *Server) SignWith(
	claims map[string]any, kid string, key *rsa.PrivateKey,
) (string, error) {
	if key == nil {
		key, _ = s.signingKey()
	}

	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("new signer: %w", err)
	}

	token, err := jwt.Signed(signer).Claims(claims).CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return token, nil
}

// RotateKey replaces the signing key and kid; the JWKS then publishes
// only the new key.
func (s *Server) RotateKey() {
	key, kid, err := newSigningKey()
	if err != nil {
		s.log.Error("clerkemu rotate key", "err", err)
		return
	}

	s.keyMu.Lock()
	s.key, s.kid = key, kid
	s.keyMu.Unlock()
}

// KeyID returns the kid of the current signing key.
func (s *Server) KeyID() string {
	_, kid := s.signingKey()
	return kid
}

// signingKey returns the current key and kid.
func (s *Server) signingKey() (*rsa.PrivateKey, string) {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.key, s.kid
}

// newSigningKey generates an RSA 2048 key and a kid for it.
func newSigningKey() (*rsa.PrivateKey, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", fmt.Errorf("generate rsa key: %w", err)
	}
	return key, randomID("ins_dev_"), nil
}

// sessionClaims builds the claims of a Clerk v2 session token.
func (s *Server) sessionClaims(userID string, o TokenOptions) map[string]any {
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}

	nbf := iat
	if o.NotBefore != nil {
		nbf = *o.NotBefore
	}

	claims := map[string]any{
		"sub": userID,
		"sid": cmp.Or(o.SessionID, randomID("sess_")),
		"iss": cmp.Or(o.Issuer, s.opts.Issuer),
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"exp": iat.Add(cmp.Or(o.TTL, defaultTokenTTL)).Unix(),
		"fva": []int{0, -1},
		"v":   2,
	}

	if o.AuthorizedParty != "" {
		claims["azp"] = o.AuthorizedParty
	}
	return claims
}

// handleJWKS serves GET /jwks with the current public key only.
func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	key, kid := s.signingKey()

	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{
		Keys: []jose.JSONWebKey{{
			Key:       &key.PublicKey,
			KeyID:     kid,
			Algorithm: string(jose.RS256),
			Use:       "sig",
		}},
	})
}

// devTokenRequest is the body of POST /dev/tokens.
type devTokenRequest struct {
	UserID     string `json:"user_id"`
	AZP        string `json:"azp"`
	TTLSeconds *int64 `json:"ttl_seconds"`
}

// devTokenResponse answers POST /dev/tokens.
type devTokenResponse struct {
	Token     string `json:"token"`
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	ExpiresAt int64  `json:"expires_at"`
}

// handleDevToken serves POST /dev/tokens (dev only, no bearer): it
// mints a token for user_id, creating a user first when it is empty.
func (s *Server) handleDevToken(w http.ResponseWriter, r *http.Request) {
	var req devTokenRequest
	if !decodeBody(w, r, &req) {
		return
	}

	ttl := defaultTokenTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds <= 0 {
			writeInvalid(w, "ttl_seconds", "must be positive")
			return
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}

	userID, ok := s.devUser(req.UserID)
	if !ok {
		writeUserNotFound(w)
		return
	}

	s.writeDevToken(w, userID, req.AZP, ttl)
}

// devUser returns id if such a user exists, or a new user's id when id
// is empty.
func (s *Server) devUser(id string) (string, bool) {
	if id != "" {
		_, ok := s.lookup(id)
		return id, ok
	}

	n := s.nextSeq()
	u := s.CreateUser(UserParams{
		Email:     ptr(devEmail(n)),
		FirstName: ptr("Dev"),
		LastName:  ptr(fmt.Sprintf("User %d", n)),
		Username:  ptr(fmt.Sprintf("dev%d", n)),
	})
	return u.ID, true
}

// writeDevToken mints a token and writes the dev token response.
func (s *Server) writeDevToken(
	w http.ResponseWriter, userID, azp string, ttl time.Duration,
) {
	now := time.Now()
	sid := randomID("sess_")
	token, err := s.MintToken(userID, TokenOptions{
		AuthorizedParty: azp,
		TTL:             ttl,
		IssuedAt:        now,
		SessionID:       sid,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError,
			"internal_clerk_error", "mint token", err.Error())
		return
	}

	writeJSON(w, http.StatusOK, devTokenResponse{
		Token:     token,
		UserID:    userID,
		SessionID: sid,
		ExpiresAt: now.Add(ttl).Unix(),
	})
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T {
	return &v
}
