package clerkemu

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
)

// List limits, as enforced by Clerk.
const (
	defaultLimit = 10
	maxLimit     = 500
)

// errBadPrimary rejects a primary_email_address_id the user lacks.
var errBadPrimary = errors.New("primary email address not found")

// paramError names an invalid query or body parameter.
type paramError struct {
	param string
	msg   string
}

// Error implements error.
func (e *paramError) Error() string {
	return e.param + ": " + e.msg
}

// listQuery is a parsed GET /users query.
type listQuery struct {
	limit   int
	offset  int
	orderBy string
	filter  userFilter
}

// userFilter holds the supported GET /users filters.
type userFilter struct {
	ids         map[string]bool
	emails      map[string]bool
	externalIDs map[string]bool
	usernames   map[string]bool
	banned      *bool
}

// handleGetUser serves GET /users/{id}.
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.lookup(r.PathValue("id"))
	if !ok {
		writeUserNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// handleListUsers serves GET /users as a bare JSON array, which is
// what clerk-sdk-go's user.Client.List decodes.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.listUsers(q))
}

// handleCountUsers serves GET /users/count; paging parameters, which
// the SDK forwards, are ignored.
func (s *Server) handleCountUsers(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}

	writeJSON(w, http.StatusOK, &user.TotalCount{
		Object:     "total_count",
		TotalCount: s.countUsers(f),
	})
}

// handleCreateUser serves POST /users with user.CreateParams.
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var p user.CreateParams
	if !decodeBody(w, r, &p) {
		return
	}

	u, err := s.userFromParams(&p)
	if err != nil {
		writeParamError(w, err)
		return
	}

	writeJSON(w, http.StatusOK, s.insert(u))
}

// handleUpdateUser serves PATCH /users/{id} with user.UpdateParams.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var p user.UpdateParams
	if !decodeBody(w, r, &p) {
		return
	}

	u, err := s.mutate(r.PathValue("id"), func(u *clerk.User) error {
		return applyUpdateParams(u, &p)
	})
	writeMutation(w, u, err)
}

// handleDeleteUser serves DELETE /users/{id}.
func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.DeleteUser(id); err != nil {
		writeUserNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, deletedUser(id))
}

// handleBan serves POST /users/{id}/ban and /unban.
func (s *Server) handleBan(banned bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.mutate(r.PathValue("id"), func(u *clerk.User) error {
			u.Banned = banned
			return nil
		})
		writeMutation(w, u, err)
	}
}

// writeMutation answers with the changed user or the mutation error.
func writeMutation(
	w http.ResponseWriter, u *clerk.User, err error,
) {
	switch {
	case errors.Is(err, ErrUserNotFound):
		writeUserNotFound(w)
	case errors.Is(err, errBadPrimary):
		writeInvalid(w, "primary_email_address_id", err.Error())
	case err != nil:
		writeParamError(w, err)
	default:
		writeJSON(w, http.StatusOK, u)
	}
}

// writeParamError answers 422 for a *paramError, 400 otherwise.
func writeParamError(w http.ResponseWriter, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		writeInvalid(w, pe.param, pe.msg)
		return
	}
	writeError(w, http.StatusBadRequest, "malformed_request",
		"malformed request", err.Error())
}

// userFromParams builds a new user from POST /users parameters; the
// first email address becomes the primary one.
func (s *Server) userFromParams(p *user.CreateParams) (*clerk.User, error) {
	var createdAt int64
	if p.CreatedAt != nil {
		t, err := time.Parse(time.RFC3339, *p.CreatedAt)
		if err != nil {
			return nil, &paramError{"created_at", "must be RFC3339"}
		}
		createdAt = t.UnixMilli()
	}

	u := newUser("", createdAt)
	if p.EmailAddresses != nil {
		setEmails(u, *p.EmailAddresses, 0)
	}

	setProfile(u, profile{p.FirstName, p.LastName, p.Username, p.ExternalID,
		p.PublicMetadata, p.PrivateMetadata, p.UnsafeMetadata})
	u.PasswordEnabled = p.Password != nil || p.PasswordDigest != nil
	return u, nil
}

// profile holds the fields that POST and PATCH /users set alike; nil
// leaves a field as it is.
type profile struct {
	first, last, username, externalID *string
	public, private, unsafe           *json.RawMessage
}

func setProfile(u *clerk.User, p profile) {
	setString(&u.FirstName, p.first)
	setString(&u.LastName, p.last)
	setString(&u.Username, p.username)
	setString(&u.ExternalID, p.externalID)
	setRaw(&u.PublicMetadata, p.public)
	setRaw(&u.PrivateMetadata, p.private)
	setRaw(&u.UnsafeMetadata, p.unsafe)
}

// applyUpdateParams applies PATCH /users/{id} parameters to u.
func applyUpdateParams(u *clerk.User, p *user.UpdateParams) error {
	setProfile(u, profile{p.FirstName, p.LastName, p.Username, p.ExternalID,
		p.PublicMetadata, p.PrivateMetadata, p.UnsafeMetadata})

	if p.Password != nil || p.PasswordDigest != nil {
		u.PasswordEnabled = true
	}

	if p.PrimaryEmailAddressID == nil {
		return nil
	}
	for _, e := range u.EmailAddresses {
		if e.ID == *p.PrimaryEmailAddressID {
			u.PrimaryEmailAddressID = clerk.String(e.ID)
			return nil
		}
	}
	return errBadPrimary
}

// setRaw copies *src into *dst when src is set.
func setRaw(dst *json.RawMessage, src *json.RawMessage) {
	if src != nil {
		*dst = slices.Clone(*src)
	}
}

// listUsers returns one page of the users matching q.
func (s *Server) listUsers(q listQuery) []*clerk.User {
	s.mu.Lock()
	all := s.allLocked()
	s.mu.Unlock()

	matched := all[:0]
	for _, u := range all {
		if q.filter.match(u) {
			matched = append(matched, u)
		}
	}

	sortUsers(matched, q.orderBy)
	return pageOf(matched, q.offset, q.limit)
}

// countUsers returns how many users match f.
func (s *Server) countUsers(f userFilter) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()

	var n int64
	for _, u := range s.users {
		if f.match(u) {
			n++
		}
	}
	return n
}

// sortUsers reorders users, already sorted by created_at then id, by
// the order_by parameter.
func sortUsers(users []*clerk.User, orderBy string) {
	field, desc := strings.TrimPrefix(orderBy, "+"), false
	if strings.HasPrefix(orderBy, "-") {
		field, desc = orderBy[1:], true
	}

	if field == "updated_at" {
		slices.SortStableFunc(users, func(a, b *clerk.User) int {
			return cmp.Compare(a.UpdatedAt, b.UpdatedAt)
		})
	}

	if desc {
		slices.Reverse(users)
	}
}

// pageOf returns users[offset:offset+limit], clamped, never nil.
func pageOf(users []*clerk.User, offset, limit int) []*clerk.User {
	if offset >= len(users) {
		return []*clerk.User{}
	}

	end := min(offset+limit, len(users))
	return users[offset:end]
}

// parseListQuery parses limit, offset, order_by and the filters.
func parseListQuery(v url.Values) (listQuery, error) {
	q := listQuery{limit: defaultLimit}

	var err error
	q.limit, err = intParam(v, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		return q, err
	}

	q.offset, err = intParam(v, "offset", 0, 0, int(^uint(0)>>1))
	if err != nil {
		return q, err
	}

	q.orderBy = v.Get("order_by")
	if !validOrder(q.orderBy) {
		return q, &paramError{"order_by",
			"supported: [+|-]created_at, [+|-]updated_at"}
	}

	q.filter, err = parseFilter(v)
	return q, err
}

// validOrder reports whether order_by is supported.
func validOrder(orderBy string) bool {
	field := strings.TrimLeft(orderBy, "+-")
	if len(orderBy)-len(field) > 1 {
		return false
	}
	return orderBy == "" || field == "created_at" || field == "updated_at"
}

// intParam parses an optional integer parameter within [lo, hi].
func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	raw := v.Get(name)
	if raw == "" {
		return def, nil
	}

	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		msg := "must be an integer from " + strconv.Itoa(lo) +
			" to " + strconv.Itoa(hi)
		return 0, &paramError{name, msg}
	}
	return n, nil
}

// parseFilter parses user_id, email_address, external_id, username
// and banned.
func parseFilter(v url.Values) (userFilter, error) {
	f := userFilter{
		ids:         setOf(v["user_id"], false),
		emails:      setOf(v["email_address"], true),
		externalIDs: setOf(v["external_id"], false),
		usernames:   setOf(v["username"], false),
	}

	if raw := v.Get("banned"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return f, &paramError{"banned", "must be a boolean"}
		}
		f.banned = &b
	}
	return f, nil
}

// setOf turns values into a set, or nil when there are none.
func setOf(values []string, fold bool) map[string]bool {
	if len(values) == 0 {
		return nil
	}

	set := make(map[string]bool, len(values))
	for _, v := range values {
		if fold {
			v = strings.ToLower(v)
		}
		set[v] = true
	}
	return set
}

// match reports whether u passes every filter that is set.
func (f userFilter) match(u *clerk.User) bool {
	if f.ids != nil && !f.ids[u.ID] {
		return false
	}

	if f.banned != nil && u.Banned != *f.banned {
		return false
	}

	if !matchPtr(f.externalIDs, u.ExternalID) ||
		!matchPtr(f.usernames, u.Username) {
		return false
	}
	return f.emails == nil || hasEmail(f.emails, u)
}

// matchPtr reports whether set is unset or holds *p.
func matchPtr(set map[string]bool, p *string) bool {
	return set == nil || (p != nil && set[*p])
}

// hasEmail reports whether one of u's addresses is in set.
func hasEmail(set map[string]bool, u *clerk.User) bool {
	for _, e := range u.EmailAddresses {
		if set[strings.ToLower(e.EmailAddress)] {
			return true
		}
	}
	return false
}
