package clerkemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
)

// ErrUserNotFound is returned for an unknown user id.
var ErrUserNotFound = errors.New("clerkemu: user not found")

// emptyObject is the default value of the metadata fields.
var emptyObject = json.RawMessage(`{}`)

// UserParams describes a user to create or the changes to make to one,
// where nil fields stay unset on create and unchanged on update.
type UserParams struct {
	// ID fixes the id of a created user; ignored on update.
	ID string
	// Email is the primary email address; on create a generated one is
	// used when it is nil, unless NoEmail is set.
	Email *string
	// FirstName is the user's first name.
	FirstName *string
	// LastName is the user's last name.
	LastName *string
	// Username is the user's username.
	Username *string
	// ImageURL is the profile image URL; "" clears it on update.
	ImageURL *string
	// ExternalID is the user's external id.
	ExternalID *string
	// PublicMetadata replaces the public metadata; {} by default.
	PublicMetadata json.RawMessage
	// ExtraEmails are non-primary addresses, listed before the primary
	// one so that the primary is not first; on update they replace the
	// existing non-primary addresses.
	ExtraEmails []string
	// NoEmail leaves the user without a primary email address.
	NoEmail bool
	// CreatedAt fixes created_at on create; zero means now.
	CreatedAt time.Time
}

// orderKey sorts users by created_at, then id.
type orderKey struct {
	createdAt int64
	id        string
}

// compareKeys orders two keys by created_at, then id.
func compareKeys(a, b orderKey) int {
	if a.createdAt != b.createdAt {
		if a.createdAt < b.createdAt {
			return -1
		}
		return 1
	}

	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// keyOf returns the ordering key of a user.
func keyOf(u *clerk.User) orderKey {
	return orderKey{createdAt: u.CreatedAt, id: u.ID}
}

// CreateUser stores a new user, replacing any with the same fixed ID,
// and emits user.created.
func (s *Server) CreateUser(p UserParams) *clerk.User {
	emails, primary := p.emails(s.nextEmail)
	u := newUser(p.ID, p.createdAt())

	setEmails(u, emails, primary)
	p.applyProfile(u)

	return cloneUser(s.insert(u))
}

// UpdateUser applies the non-nil fields of p to a user, bumps
// updated_at and emits user.updated.
func (s *Server) UpdateUser(id string, p UserParams) (*clerk.User, error) {
	u, err := s.mutate(id, func(u *clerk.User) error {
		p.applyProfile(u)
		p.applyEmails(u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cloneUser(u), nil
}

// SetBanned sets a user's banned flag, bumps updated_at and emits
// user.updated.
func (s *Server) SetBanned(id string, banned bool) (*clerk.User, error) {
	u, err := s.mutate(id, func(u *clerk.User) error {
		u.Banned = banned
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cloneUser(u), nil
}

// DeleteUser removes a user and emits user.deleted.
func (s *Server) DeleteUser(id string) error {
	s.mu.Lock()
	ok := s.removeLocked(id)
	s.mu.Unlock()

	if !ok {
		return ErrUserNotFound
	}

	s.Emit("user.deleted", deletedUser(id))
	return nil
}

// PutUser stores a copy of u exactly as given, replacing any user with
// the same id, without emitting a webhook.
func (s *Server) PutUser(u *clerk.User) {
	c := cloneUser(u)

	s.mu.Lock()
	s.storeLocked(c)
	s.mu.Unlock()
}

// RemoveUser removes a user without emitting a webhook.
func (s *Server) RemoveUser(id string) {
	s.mu.Lock()
	s.removeLocked(id)
	s.mu.Unlock()
}

// User returns a copy of the stored user.
func (s *Server) User(id string) (*clerk.User, bool) {
	u, ok := s.lookup(id)
	if !ok {
		return nil, false
	}
	return cloneUser(u), true
}

// Users returns copies of all users ordered by created_at, then id.
func (s *Server) Users() []*clerk.User {
	s.mu.Lock()
	all := s.allLocked()
	s.mu.Unlock()

	for i, u := range all {
		all[i] = cloneUser(u)
	}
	return all
}

// deletedUser is the payload of DELETE /users/{id} and user.deleted.
func deletedUser(id string) *clerk.DeletedResource {
	return &clerk.DeletedResource{ID: id, Object: "user", Deleted: true}
}

// lookup returns the stored, never mutated, user.
func (s *Server) lookup(id string) (*clerk.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	u, ok := s.users[id]
	return u, ok
}

// insert stores a new user and emits user.created. Stored users are
// never mutated afterwards: changes replace them with a new copy.
func (s *Server) insert(u *clerk.User) *clerk.User {
	s.mu.Lock()
	s.storeLocked(u)
	s.mu.Unlock()

	s.Emit("user.created", u)
	return u
}

// mutate replaces a user with a changed copy, bumps updated_at and
// emits user.updated.
func (s *Server) mutate(
	id string, change func(*clerk.User) error,
) (*clerk.User, error) {
	s.mu.Lock()
	old, ok := s.users[id]
	if !ok {
		s.mu.Unlock()
		return nil, ErrUserNotFound
	}

	u := cloneUser(old)
	if err := change(u); err != nil {
		s.mu.Unlock()
		return nil, err
	}

	u.UpdatedAt = nextVersion(old.UpdatedAt)
	s.storeLocked(u)
	s.mu.Unlock()

	s.log.Debug("clerkemu user updated", "user_id", id)
	s.Emit("user.updated", u)
	return u, nil
}

// nextVersion returns the current Unix millisecond, or prev+1 when the
// clock has not moved past prev, so updated_at strictly increases.
func nextVersion(prev int64) int64 {
	now := time.Now().UnixMilli()
	if now <= prev {
		return prev + 1
	}
	return now
}

// storeLocked stores u and keeps the ordering index in step.
func (s *Server) storeLocked(u *clerk.User) {
	s.removeLocked(u.ID)
	s.users[u.ID] = u

	k := keyOf(u)
	i, _ := slices.BinarySearchFunc(s.order, k, compareKeys)
	s.order = slices.Insert(s.order, i, k)
}

// removeLocked deletes a user and its ordering key.
func (s *Server) removeLocked(id string) bool {
	old, ok := s.users[id]
	if !ok {
		return false
	}
	delete(s.users, id)

	i, found := slices.BinarySearchFunc(s.order, keyOf(old), compareKeys)
	if found {
		s.order = slices.Delete(s.order, i, i+1)
	}
	return true
}

// allLocked returns the stored users ordered by created_at, then id.
func (s *Server) allLocked() []*clerk.User {
	out := make([]*clerk.User, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.users[k.id])
	}
	return out
}

// nextSeq returns the next number for generated users.
func (s *Server) nextSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.seq++
	return s.seq
}

// nextEmail returns a generated address like dev+3@example.com.
func (s *Server) nextEmail() string {
	return devEmail(s.nextSeq())
}

// devEmail returns the generated address number n.
func devEmail(n int64) string {
	return fmt.Sprintf("dev+%d@example.com", n)
}

// newUser returns a user shell shaped like Clerk's, with no email.
// A zero createdAt means now; updated_at is never before created_at.
func newUser(id string, createdAt int64) *clerk.User {
	if id == "" {
		id = randomID("user_")
	}

	now := time.Now().UnixMilli()
	if createdAt == 0 {
		createdAt = now
	}

	return &clerk.User{
		Object:                    "user",
		ID:                        id,
		EmailAddresses:            []*clerk.EmailAddress{},
		PhoneNumbers:              []*clerk.PhoneNumber{},
		Web3Wallets:               []*clerk.Web3Wallet{},
		ExternalAccounts:          []*clerk.ExternalAccount{},
		SAMLAccounts:              []*clerk.SAMLAccount{},
		PublicMetadata:            emptyObject,
		PrivateMetadata:           emptyObject,
		UnsafeMetadata:            emptyObject,
		DeleteSelfEnabled:         true,
		CreateOrganizationEnabled: true,
		CreatedAt:                 createdAt,
		UpdatedAt:                 max(createdAt, now),
	}
}

// newEmail returns a verified email address object for addr.
func newEmail(addr string) *clerk.EmailAddress {
	return &clerk.EmailAddress{
		ID:           randomID("idn_"),
		Object:       "email_address",
		EmailAddress: addr,
		Verification: &clerk.Verification{
			Status:   "verified",
			Strategy: "email_code",
		},
		LinkedTo: []*clerk.LinkedIdentification{},
	}
}

// setEmails sets the addresses of u; primary indexes emails, or is -1.
func setEmails(u *clerk.User, emails []string, primary int) {
	u.EmailAddresses = make([]*clerk.EmailAddress, 0, len(emails))
	u.PrimaryEmailAddressID = nil

	for i, addr := range emails {
		e := newEmail(addr)
		u.EmailAddresses = append(u.EmailAddresses, e)
		if i == primary {
			u.PrimaryEmailAddressID = clerk.String(e.ID)
		}
	}
}

// createdAt returns p.CreatedAt in Unix milliseconds, 0 when unset.
func (p UserParams) createdAt() int64 {
	if p.CreatedAt.IsZero() {
		return 0
	}
	return p.CreatedAt.UnixMilli()
}

// emails lists the addresses of a created user, extras first, and the
// index of the primary one (-1 for none).
func (p UserParams) emails(generate func() string) ([]string, int) {
	out := slices.Clone(p.ExtraEmails)
	if p.NoEmail {
		return out, -1
	}

	primary := ""
	if p.Email != nil {
		primary = *p.Email
	} else {
		primary = generate()
	}
	return append(out, primary), len(out)
}

// applyProfile copies the non-nil profile fields of p onto u.
func (p UserParams) applyProfile(u *clerk.User) {
	setString(&u.FirstName, p.FirstName)
	setString(&u.LastName, p.LastName)
	setString(&u.Username, p.Username)
	setString(&u.ExternalID, p.ExternalID)

	if p.ImageURL != nil {
		u.ImageURL = nil
		if *p.ImageURL != "" {
			u.ImageURL = clerk.String(*p.ImageURL)
		}
		u.HasImage = u.ImageURL != nil
	}

	if p.PublicMetadata != nil {
		u.PublicMetadata = slices.Clone(p.PublicMetadata)
	}
}

// applyEmails applies Email, ExtraEmails and NoEmail to u; the result
// lists the non-primary addresses first, then the primary one.
func (p UserParams) applyEmails(u *clerk.User) {
	if p.Email == nil && p.ExtraEmails == nil && !p.NoEmail {
		return
	}

	primary, others := splitPrimary(u)
	if p.ExtraEmails != nil {
		others = others[:0]
		for _, addr := range p.ExtraEmails {
			others = append(others, newEmail(addr))
		}
	}

	switch {
	case p.NoEmail:
		primary = nil
	case p.Email != nil && primary == nil:
		primary = newEmail(*p.Email)
	case p.Email != nil:
		primary.EmailAddress = *p.Email
	}

	u.EmailAddresses = others
	u.PrimaryEmailAddressID = nil
	if primary != nil {
		u.EmailAddresses = append(u.EmailAddresses, primary)
		u.PrimaryEmailAddressID = clerk.String(primary.ID)
	}
}

// splitPrimary separates the primary email address from the others.
func splitPrimary(
	u *clerk.User,
) (*clerk.EmailAddress, []*clerk.EmailAddress) {
	var primary *clerk.EmailAddress
	others := make([]*clerk.EmailAddress, 0, len(u.EmailAddresses))

	for _, e := range u.EmailAddresses {
		if u.PrimaryEmailAddressID != nil &&
			e.ID == *u.PrimaryEmailAddressID {
			primary = e
			continue
		}
		others = append(others, e)
	}
	return primary, others
}

// setString copies *src into a fresh pointer at *dst when src is set.
func setString(dst **string, src *string) {
	if src != nil {
		*dst = clerk.String(*src)
	}
}

// cloneUser deep-copies u through JSON, falling back to a shallow copy
// if u holds invalid raw JSON.
func cloneUser(u *clerk.User) *clerk.User {
	raw, err := json.Marshal(u)
	if err == nil {
		c := &clerk.User{}
		if json.Unmarshal(raw, c) == nil {
			return c
		}
	}

	c := *u
	return &c
}
