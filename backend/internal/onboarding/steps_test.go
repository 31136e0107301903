package onboarding_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/onboarding"
	"github.com/clerksync/clerksync/backend/internal/user"
)

func TestParseSteps(t *testing.T) {
	steps, err := onboarding.ParseSteps(onboarding.DefaultSteps)
	require.NoError(t, err)
	require.Equal(t, []onboarding.Step{
		{Name: "verified_email", Derived: true},
		{Name: "full_name", Derived: true},
		{Name: "profile_image", Derived: true},
		{Name: "create_project"},
	}, steps)

	for _, bad := range []string{"", "a,,b", "Upper", "a,a", "has space", "x-y"} {
		_, err := onboarding.ParseSteps(bad)
		require.Error(t, err, bad)
	}
}

func TestParseReminders(t *testing.T) {
	ds, err := onboarding.ParseReminders("24h, 72h")
	require.NoError(t, err)
	require.Len(t, ds, 2)
	ds, err = onboarding.ParseReminders("off")
	require.NoError(t, err)
	require.Empty(t, ds)
	_, err = onboarding.ParseReminders("0s")
	require.Error(t, err)
	_, err = onboarding.ParseReminders("tomorrow")
	require.Error(t, err)
}

func TestEvaluate(t *testing.T) {
	steps, err := onboarding.ParseSteps(onboarding.DefaultSteps)
	require.NoError(t, err)
	s := func(v string) *string { return &v }

	done, undone := onboarding.Evaluate(steps, user.Snapshot{
		Email: s("a@example.com"), EmailVerified: true, FirstName: s("Ada"), LastName: s(" "),
	})
	require.Equal(t, []string{"verified_email"}, done)
	require.Equal(t, []string{"full_name", "profile_image"}, undone)

	done, _ = onboarding.Evaluate(steps, user.Snapshot{
		Email: s("a@example.com"), FirstName: s("Ada"), LastName: s("L"), ImageURL: s("https://i"),
	})
	require.Equal(t, []string{"full_name", "profile_image"}, done, "an unverified email does not count")
}
