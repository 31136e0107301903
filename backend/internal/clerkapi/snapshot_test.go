package clerkapi_test

import (
	"testing"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/user"
)

func TestSnapshotFromUser(t *testing.T) {
	s := func(v string) *string { return &v }
	u := &clerk.User{
		ID:                    "user_1",
		PrimaryEmailAddressID: s("idn_b"),
		EmailAddresses: []*clerk.EmailAddress{
			{ID: "idn_a", EmailAddress: "old@example.com"},
			{ID: "idn_b", EmailAddress: "main@example.com",
				Verification: &clerk.Verification{Status: "verified"}},
		},
		FirstName: s(""),
		LastName:  s("Lovelace"),
		CreatedAt: 1_700_000_000_000,
		UpdatedAt: 1_700_000_000_500,
	}

	snap, err := clerkapi.SnapshotFromUser(u)
	require.NoError(t, err)
	require.Equal(t, "main@example.com", *snap.Email, "the primary, not the first")
	require.True(t, snap.EmailVerified)
	require.Nil(t, snap.FirstName, "an empty name is no name")
	require.Equal(t, int64(1_700_000_000_500), snap.UpdatedAt.UnixMilli())

	u.PrimaryEmailAddressID = s("idn_gone")
	snap, err = clerkapi.SnapshotFromUser(u)
	require.NoError(t, err)
	require.Nil(t, snap.Email, "a primary id that matches nothing gives no email")

	u.UpdatedAt = 0
	_, err = clerkapi.SnapshotFromUser(u)
	require.ErrorIs(t, err, user.ErrInvalidSnapshot)
	_, err = clerkapi.SnapshotFromUser(nil)
	require.ErrorIs(t, err, user.ErrInvalidSnapshot)
}
