// Package user holds clerksync's domain: a Clerk user as stored locally,
// the snapshots that update it, and the rules of the sync core that every
// writer follows. It imports no database, HTTP or Clerk client code.
package user

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Domain errors. Adapters translate their own failures into these so that
// callers can decide on a status code without knowing the technology.
var (
	// ErrNotFound means no stored row exists for the Clerk id.
	ErrNotFound = errors.New("user not found")
	// ErrDeleted means the Clerk id was deleted and is tombstoned.
	ErrDeleted = errors.New("user deleted")
	// ErrInvalidSnapshot means a snapshot lacks what the core needs to
	// order it (an id and a version).
	ErrInvalidSnapshot = errors.New("invalid user snapshot")
)

// Source names the path a snapshot or deletion arrived through.
type Source string

// The sources a sync can come from.
const (
	SourceRequest   Source = "request"
	SourceWebhook   Source = "webhook"
	SourceBackfill  Source = "backfill"
	SourceReconcile Source = "reconcile"
)

// Outcome is what applying a snapshot or a deletion did.
type Outcome string

// The outcomes of the sync core.
const (
	// OutcomeCreated: a new row was inserted.
	OutcomeCreated Outcome = "created"
	// OutcomeUpdated: a newer snapshot replaced the stored row.
	OutcomeUpdated Outcome = "updated"
	// OutcomeUnchanged: the stored row is as new or newer; nothing written.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeTombstoned: the id was deleted before; nothing written.
	OutcomeTombstoned Outcome = "tombstoned"
	// OutcomeDeleted: a deletion removed the row and left a tombstone.
	OutcomeDeleted Outcome = "deleted"
	// OutcomeAlreadyDeleted: a deletion found the tombstone already there.
	OutcomeAlreadyDeleted Outcome = "already_deleted"
)

// Wrote reports whether the outcome changed the users table.
func (o Outcome) Wrote() bool {
	return o == OutcomeCreated || o == OutcomeUpdated || o == OutcomeDeleted
}

// maxTime is the last instant PostgreSQL's timestamptz can hold in the
// form clerksync writes.
var maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// maxIDLength bounds a Clerk id; real ids are about 32 characters.
const maxIDLength = 128

// Snapshot is the state of one Clerk user at one version, whatever path
// it came through. UpdatedAt, Clerk's updated_at, is the version.
type Snapshot struct {
	ClerkID        string
	Email          *string
	EmailVerified  bool
	FirstName      *string
	LastName       *string
	Username       *string
	ImageURL       *string
	PublicMetadata json.RawMessage
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Validate returns ErrInvalidSnapshot, wrapped with the reason, when the
// snapshot cannot be ordered against others.
func (s Snapshot) Validate() error {
	switch {
	case s.ClerkID == "":
		return fmt.Errorf("%w: missing id", ErrInvalidSnapshot)
	case len(s.ClerkID) > maxIDLength:
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalidSnapshot, maxIDLength)
	case s.UpdatedAt.IsZero() || s.UpdatedAt.Unix() <= 0:
		return fmt.Errorf("%w: missing or non-positive updated_at", ErrInvalidSnapshot)
	case s.UpdatedAt.After(maxTime) || s.CreatedAt.After(maxTime):
		return fmt.Errorf("%w: updated_at or created_at after the year 9999", ErrInvalidSnapshot)
	}
	return nil
}

// ValidID reports whether id can name a Clerk user.
func ValidID(id string) bool {
	return id != "" && len(id) <= maxIDLength
}

// User is the locally stored copy of a Clerk user.
type User struct {
	ID             int64           `json:"id"`
	ClerkID        string          `json:"clerk_id"`
	Email          *string         `json:"email"`
	EmailVerified  bool            `json:"email_verified"`
	FirstName      *string         `json:"first_name"`
	LastName       *string         `json:"last_name"`
	Username       *string         `json:"username"`
	ImageURL       *string         `json:"image_url"`
	PublicMetadata json.RawMessage `json:"public_metadata"`
	ClerkCreatedAt time.Time       `json:"clerk_created_at"`
	ClerkUpdatedAt time.Time       `json:"clerk_updated_at"`
	SyncedAt       time.Time       `json:"synced_at"`
	SyncedVia      Source          `json:"synced_via"`
	CreatedAt      time.Time       `json:"created_at"`
}

// Role returns public_metadata.role, or "" when it is absent or not a
// string.
func (u User) Role() string {
	var meta struct {
		Role any `json:"role"`
	}
	if json.Unmarshal(u.PublicMetadata, &meta) != nil {
		return ""
	}
	role, _ := meta.Role.(string)
	return role
}
