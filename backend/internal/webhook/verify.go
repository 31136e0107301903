// Package webhook receives Clerk's events as Svix delivers them: it
// verifies the signature over the exact bytes received, records each
// message id once, and applies user events through the sync core.
package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Reasons a delivery is refused before processing; each is a metric
// label and the error code of the 400 answer.
const (
	ReasonMissingHeaders   = "missing_headers"
	ReasonBadTimestamp     = "invalid_timestamp"
	ReasonTimestampTooOld  = "timestamp_too_old"
	ReasonTimestampTooNew  = "timestamp_too_new"
	ReasonBadSignature     = "invalid_signature"
	ReasonBodyTooLarge     = "payload_too_large"
	ReasonEmptyBody        = "empty_body"
	ReasonUnreadableBody   = "unreadable_body"
	ReasonOverlongIdentity = "invalid_message_id"
)

// tolerance is Svix's: a timestamp further than this from now is refused.
const tolerance = 5 * time.Minute

// RejectError is a delivery that could not be verified.
type RejectError struct {
	Reason string
	Err    error
}

func (e *RejectError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *RejectError) Unwrap() error { return e.Err }

func reject(reason string, format string, args ...any) error {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Verifier checks Svix signatures against one or more signing secrets
// (two during a rotation); any one verifying is enough.
type Verifier struct {
	secrets []*svix.Webhook
	now     func() time.Time
}

// NewVerifier parses the secrets ("whsec_" and base64). It returns an
// error naming the position of a malformed one, never its value.
func NewVerifier(secrets []string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no webhook signing secret")
	}
	v := &Verifier{now: time.Now}
	for i, s := range secrets {
		wh, err := svix.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhook signing secret #%d is not whsec_ and base64", i+1)
		}
		v.secrets = append(v.secrets, wh)
	}
	return v, nil
}

// Message is what the headers of a verified delivery say.
type Message struct {
	ID        string
	Timestamp time.Time
}

// Verify checks the headers (svix-* or webhook-*, any case) and the
// signature over body. Failures are *RejectError.
func (v *Verifier) Verify(body []byte, h http.Header) (Message, error) {
	id, ts, sig := h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	if id == "" || ts == "" || sig == "" {
		id, ts, sig = h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	}
	if id == "" || ts == "" || sig == "" {
		return Message{}, reject(ReasonMissingHeaders,
			"svix-id, svix-timestamp and svix-signature are required")
	}
	if len(id) > 255 {
		return Message{}, reject(ReasonOverlongIdentity, "message id over 255 bytes")
	}

	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Message{}, reject(ReasonBadTimestamp, "timestamp is not Unix seconds")
	}
	sent := time.Unix(secs, 0)
	switch now := v.now(); {
	case now.Sub(sent) > tolerance:
		return Message{}, reject(ReasonTimestampTooOld, "timestamp more than %s old", tolerance)
	case sent.Sub(now) > tolerance:
		return Message{}, reject(ReasonTimestampTooNew, "timestamp more than %s ahead", tolerance)
	}

	// The Svix library does the cryptography; the checks above only give
	// each refusal its own reason.
	for _, wh := range v.secrets {
		if wh.Verify(body, h) == nil {
			return Message{ID: id, Timestamp: sent}, nil
		}
	}
	return Message{}, reject(ReasonBadSignature, "no signature matches a configured secret")
}
