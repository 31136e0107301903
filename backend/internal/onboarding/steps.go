// Package onboarding guides a new user through setup: steps derived from
// Clerk data, re-evaluated on every newer snapshot, and app steps the
// front end completes; reminder emails while it is incomplete.
package onboarding

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// DefaultSteps is ONBOARDING_STEPS when unset.
const DefaultSteps = "verified_email,full_name,profile_image,create_project"

// derived maps the step names computed from Clerk data to their test.
var derived = map[string]func(user.Snapshot) bool{
	"verified_email": func(s user.Snapshot) bool { return s.Email != nil && s.EmailVerified },
	"full_name": func(s user.Snapshot) bool {
		return s.FirstName != nil && s.LastName != nil &&
			strings.TrimSpace(*s.FirstName) != "" && strings.TrimSpace(*s.LastName) != ""
	},
	"profile_image": func(s user.Snapshot) bool { return s.ImageURL != nil && *s.ImageURL != "" },
}

// Step is one onboarding step: derived from Clerk data, or completed by
// the app.
type Step struct {
	Name    string
	Derived bool
}

var stepName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ParseSteps reads ONBOARDING_STEPS: comma-separated names, in order.
// verified_email, full_name and profile_image are derived from Clerk;
// any other name is an app step.
func ParseSteps(s string) ([]Step, error) {
	var steps []Step
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !stepName.MatchString(name) {
			return nil, fmt.Errorf("step %q is not lower_snake_case of at most 40 characters", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("step %q is listed twice", name)
		}
		seen[name] = true
		_, isDerived := derived[name]
		steps = append(steps, Step{Name: name, Derived: isDerived})
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("no steps")
	}
	return steps, nil
}

// Evaluate splits the derived steps into done and not done for s.
func Evaluate(steps []Step, s user.Snapshot) (done, undone []string) {
	for _, st := range steps {
		if !st.Derived {
			continue
		}
		if derived[st.Name](s) {
			done = append(done, st.Name)
		} else {
			undone = append(undone, st.Name)
		}
	}
	return done, undone
}

// Names returns the steps' names.
func Names(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

// SnapshotOf rebuilds a snapshot from a stored user, to evaluate users
// synced before onboarding existed.
func SnapshotOf(u user.User) user.Snapshot {
	return user.Snapshot{
		ClerkID: u.ClerkID, Email: u.Email, EmailVerified: u.EmailVerified,
		FirstName: u.FirstName, LastName: u.LastName, Username: u.Username,
		ImageURL: u.ImageURL, PublicMetadata: u.PublicMetadata,
		CreatedAt: u.ClerkCreatedAt, UpdatedAt: u.ClerkUpdatedAt,
	}
}
