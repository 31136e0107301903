package fraud_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/fraud"
)

func config(t *testing.T) fraud.Config {
	t.Helper()
	disposable, err := fraud.LoadDisposable("")
	require.NoError(t, err)
	return fraud.Config{
		Threshold: 60, Action: fraud.ActionFlag, Window: time.Hour,
		IPLimit: 10, DomainLimit: 20, IPKey: []byte("k"), Disposable: disposable,
		Weights: map[string]int{
			fraud.RuleDisposableEmail: 40, fraud.RuleIPVelocity: 60,
			fraud.RuleDomainVelocity: 30, fraud.RuleSpamName: 30,
		},
	}
}

func rules(signals []fraud.Signal) []string {
	var out []string
	for _, s := range signals {
		out = append(out, s.Rule)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	c := config(t)
	cases := []struct {
		name  string
		facts fraud.Facts
		rules []string
		score int
	}{
		{"clean", fraud.Facts{EmailDomain: "acme.com", Names: []string{"Ada", "Lovelace"}, SignupsFromIP: 1, SignupsDomain: 1}, nil, 0},
		{"disposable", fraud.Facts{EmailDomain: "mailinator.com"}, []string{fraud.RuleDisposableEmail}, 40},
		{"ip below limit", fraud.Facts{SignupsFromIP: 9}, nil, 0},
		{"ip at limit", fraud.Facts{SignupsFromIP: 10}, []string{fraud.RuleIPVelocity}, 60},
		{"domain at limit", fraud.Facts{EmailDomain: "corp.example", SignupsDomain: 20}, []string{fraud.RuleDomainVelocity}, 30},
		{"free provider never counts", fraud.Facts{EmailDomain: "gmail.com", SignupsDomain: 500}, nil, 0},
		{"link in name", fraud.Facts{Names: []string{"Visit www.win.top"}}, []string{fraud.RuleSpamName}, 30},
		{"url in name", fraud.Facts{Names: []string{"http://x"}}, []string{fraud.RuleSpamName}, 30},
		{"repeated characters", fraud.Facts{Names: []string{"aaaaaaaa"}}, []string{fraud.RuleSpamName}, 30},
		{"spam word", fraud.Facts{Names: []string{"Free crypto"}}, []string{fraud.RuleSpamName}, 30},
		{"accents are fine", fraud.Facts{Names: []string{"Zoë", "Ñúñez-Ødegård"}}, nil, 0},
		{"several rules add up", fraud.Facts{EmailDomain: "yopmail.com", Names: []string{"casino"}}, []string{fraud.RuleDisposableEmail, fraud.RuleSpamName}, 70},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signals, score := c.Evaluate(tc.facts)
			require.Equal(t, tc.rules, rules(signals))
			require.Equal(t, tc.score, score)
		})
	}
}

func TestHashIP(t *testing.T) {
	c := config(t)
	a := c.HashIP("203.0.113.5")
	require.Len(t, a, 64)
	require.NotContains(t, a, "203")
	require.Equal(t, a, c.HashIP(" 203.0.113.5 "))
	require.NotEqual(t, a, c.HashIP("203.0.113.6"))
	require.Empty(t, c.HashIP(""))

	other := c
	other.IPKey = []byte("another key")
	require.NotEqual(t, a, other.HashIP("203.0.113.5"), "the hash is keyed")
}

func TestEmailDomain(t *testing.T) {
	s := func(v string) *string { return &v }
	require.Equal(t, "example.com", fraud.EmailDomain(s("A@Example.COM")))
	require.Empty(t, fraud.EmailDomain(s("no-at-sign")))
	require.Empty(t, fraud.EmailDomain(nil))
}
