package clerkapi

import (
	"fmt"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/clerksync/clerksync/backend/internal/user"
)

// SnapshotFromUser turns a Clerk user, from the API or a webhook, into a
// domain snapshot. The primary email is the address whose id equals
// primary_email_address_id, wherever it stands in the list; a user may
// have none. It returns an error wrapping user.ErrInvalidSnapshot when
// the user has no id or no updated_at.
func SnapshotFromUser(u *clerk.User) (user.Snapshot, error) {
	if u == nil {
		return user.Snapshot{}, fmt.Errorf("%w: no user", user.ErrInvalidSnapshot)
	}

	s := user.Snapshot{
		ClerkID:        u.ID,
		FirstName:      nonEmpty(u.FirstName),
		LastName:       nonEmpty(u.LastName),
		Username:       nonEmpty(u.Username),
		ImageURL:       nonEmpty(u.ImageURL),
		PublicMetadata: u.PublicMetadata,
		CreatedAt:      fromMillis(u.CreatedAt),
		UpdatedAt:      fromMillis(u.UpdatedAt),
	}
	if email := primaryEmail(u); email != nil {
		s.Email = &email.EmailAddress
		s.EmailVerified = email.Verification != nil &&
			email.Verification.Status == "verified"
	}
	return s, s.Validate()
}

func primaryEmail(u *clerk.User) *clerk.EmailAddress {
	if u.PrimaryEmailAddressID == nil {
		return nil
	}
	for _, e := range u.EmailAddresses {
		if e != nil && e.ID == *u.PrimaryEmailAddressID && e.EmailAddress != "" {
			return e
		}
	}
	return nil
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
