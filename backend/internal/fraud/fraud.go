// Package fraud scores sign-ups with simple, explainable rules: a
// disposable email domain, many sign-ups from one IP or one email domain
// in a short window, and names that look like links or spam. A user whose
// score reaches the threshold is flagged, and optionally banned in Clerk.
package fraud

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// Actions taken on a flagged user.
const (
	ActionNone = "none"
	ActionFlag = "flag"
	ActionBan  = "ban"
)

// Rules, as stored in fraud_signals and labelled in metrics.
const (
	RuleDisposableEmail = "disposable_email"
	RuleIPVelocity      = "ip_velocity"
	RuleDomainVelocity  = "domain_velocity"
	RuleSpamName        = "spam_name"
)

// Config holds the thresholds and weights, all settings.
type Config struct {
	Threshold   int
	Action      string
	Window      time.Duration
	IPLimit     int
	DomainLimit int
	Weights     map[string]int
	// IPKey keys the HMAC under which IP addresses are stored.
	IPKey      []byte
	Disposable map[string]bool
}

// DefaultWeights are the rules' weights when none are set.
var DefaultWeights = map[string]int{
	RuleDisposableEmail: 40, RuleIPVelocity: 60, RuleDomainVelocity: 30, RuleSpamName: 30,
}

// WithDefaults fills the zero fields with the documented defaults, so
// that a zero threshold never flags everyone.
func (c Config) WithDefaults() Config {
	if c.Threshold <= 0 {
		c.Threshold = 60
	}
	if c.Action == "" {
		c.Action = ActionFlag
	}
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if c.Weights == nil {
		c.Weights = DefaultWeights
	}
	return c
}

//go:embed disposable_domains.txt
var disposableList string

// LoadDisposable returns the shipped list of disposable domains, plus
// those in path when it is not empty.
func LoadDisposable(path string) (map[string]bool, error) {
	out := map[string]bool{}
	if err := readDomains(strings.NewReader(disposableList), out); err != nil {
		return nil, err
	}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open disposable domains: %w", err)
	}
	defer f.Close()
	return out, readDomains(f, out)
}

func readDomains(r io.Reader, into map[string]bool) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.ToLower(strings.TrimSpace(s.Text()))
		if line != "" && !strings.HasPrefix(line, "#") {
			into[line] = true
		}
	}
	return s.Err()
}

// HashIP returns the keyed hash under which an IP address is stored, or
// "" for no address.
func (c Config) HashIP(ip string) string {
	ip = strings.TrimSpace(ip)
	if ip == "" {
		return ""
	}
	m := hmac.New(sha256.New, c.IPKey)
	m.Write([]byte(ip))
	return hex.EncodeToString(m.Sum(nil))
}

// EmailDomain returns the lower-case domain of an address, or "".
func EmailDomain(email *string) string {
	if email == nil {
		return ""
	}
	_, domain, ok := strings.Cut(*email, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(domain))
}

// freeProviders are too common for domain velocity to mean anything.
var freeProviders = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true,
	"hotmail.com": true, "live.com": true, "yahoo.com": true,
	"icloud.com": true, "me.com": true, "proton.me": true,
	"protonmail.com": true, "aol.com": true, "gmx.com": true,
}

// Signal is one rule that fired, with its weight and why.
type Signal struct {
	Rule   string         `json:"rule"`
	Score  int            `json:"score"`
	Detail map[string]any `json:"detail"`
}

// Facts is what the rules look at for one user.
type Facts struct {
	EmailDomain   string
	Names         []string
	SignupsFromIP int // distinct users from the same IP in the window, this one included
	SignupsDomain int // distinct users of the same email domain in the window
}

// Evaluate runs every rule and returns the signals that fired and the
// total score.
func (c Config) Evaluate(f Facts) ([]Signal, int) {
	var out []Signal
	fire := func(rule string, detail map[string]any) {
		out = append(out, Signal{Rule: rule, Score: c.Weights[rule], Detail: detail})
	}

	if f.EmailDomain != "" && c.Disposable[f.EmailDomain] {
		fire(RuleDisposableEmail, map[string]any{"domain": f.EmailDomain})
	}
	if c.IPLimit > 0 && f.SignupsFromIP >= c.IPLimit {
		fire(RuleIPVelocity, map[string]any{"users": f.SignupsFromIP, "window": c.Window.String()})
	}
	if c.DomainLimit > 0 && f.SignupsDomain >= c.DomainLimit && !freeProviders[f.EmailDomain] {
		fire(RuleDomainVelocity, map[string]any{"domain": f.EmailDomain, "users": f.SignupsDomain, "window": c.Window.String()})
	}
	for _, n := range f.Names {
		if looksLikeSpam(n) {
			fire(RuleSpamName, map[string]any{"reason": "a name looks like a link or spam"})
			break
		}
	}

	total := 0
	for _, s := range out {
		total += s.Score
	}
	return out, total
}

var (
	linkish = regexp.MustCompile(`(?i)(https?://|www\.|\.(com|net|org|ru|xyz|top|click|biz|cn)\b|<|>)`)
	spammy  = regexp.MustCompile(`(?i)\b(viagra|casino|crypto|bitcoin|loan|free money|earn \$|click here|telegram)\b`)
)

func looksLikeSpam(name string) bool {
	return linkish.MatchString(name) || spammy.MatchString(name) ||
		longRun(name, 6) || len(name) > 100
}

// longRun reports whether one character repeats n times in a row.
func longRun(s string, n int) bool {
	run, last := 0, rune(-1)
	for _, r := range s {
		if r == last {
			run++
		} else {
			run, last = 1, r
		}
		if run >= n {
			return true
		}
	}
	return false
}
