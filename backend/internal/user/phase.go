package user

import "fmt"

// Phase is the deployment's stage in moving from upsert-on-request to
// webhooks as the source of truth.
type Phase string

// The three phases.
const (
	// PhaseMVP: the auth middleware upserts callers; no webhook route.
	PhaseMVP Phase = "mvp"
	// PhaseBeta: upsert on request plus webhooks through the same core.
	PhaseBeta Phase = "beta"
	// PhaseProduction: webhooks are the source of truth; requests only
	// read, with one fallback fetch for a row that has not arrived yet.
	PhaseProduction Phase = "production"
)

// ParsePhase returns the phase named by s, or an error listing the
// allowed values.
func ParsePhase(s string) (Phase, error) {
	switch p := Phase(s); p {
	case PhaseMVP, PhaseBeta, PhaseProduction:
		return p, nil
	}
	return "", fmt.Errorf("unknown phase %q (allowed: mvp, beta, production)", s)
}

// WebhooksEnabled reports whether the webhook route is mounted.
func (p Phase) WebhooksEnabled() bool { return p != PhaseMVP }

// UpsertOnRequest reports whether authenticated requests refresh the
// caller's row from Clerk once it is older than the sync TTL.
func (p Phase) UpsertOnRequest() bool { return p != PhaseProduction }
