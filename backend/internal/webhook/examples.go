package webhook

import (
	"embed"
	"fmt"
)

// examples holds Clerk's published example payloads, byte for byte:
// user.created.docs.json from the webhook guide, the others from Clerk's
// webhook OpenAPI description.
//
//go:embed examples/*.json
var examples embed.FS

// Example returns Clerk's published example body for an event type
// (user.created, user.updated, user.deleted, session.created).
func Example(eventType string) ([]byte, error) {
	b, err := examples.ReadFile("examples/" + eventType + ".json")
	if err != nil {
		return nil, fmt.Errorf("no example for %q (have user.created, user.updated, user.deleted, session.created)", eventType)
	}
	return b, nil
}
