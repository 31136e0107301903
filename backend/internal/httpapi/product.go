package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/clerksync/clerksync/backend/internal/fraud"
	"github.com/clerksync/clerksync/backend/internal/onboarding"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Onboarding reports and advances onboarding; *onboarding.Service is one.
type Onboarding interface {
	Status(ctx context.Context, u user.User) (onboarding.Status, error)
	CompleteStep(ctx context.Context, u user.User, step string) error
}

// Fraud lists and resolves flags; *fraud.Service with its DB is one.
type Fraud interface {
	Resolve(ctx context.Context, clerkID, resolution string) (postgres.Flag, error)
}

// FlagLister lists fraud flags; *postgres.DB is one.
type FlagLister interface {
	ListFlags(ctx context.Context, status, clerkID string, limit int) ([]postgres.Flag, error)
}

func (a *API) getOnboarding(c *gin.Context) {
	st, err := a.onboarding.Status(c.Request.Context(), currentUser(c))
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// completeStep marks an app step done; doing it twice is fine.
func (a *API) completeStep(c *gin.Context) {
	u := currentUser(c)
	err := a.onboarding.CompleteStep(c.Request.Context(), u, c.Param("step"))
	switch {
	case errors.Is(err, onboarding.ErrUnknownStep):
		abort(c, http.StatusNotFound, "unknown_step", "No such onboarding step.")
		return
	case errors.Is(err, onboarding.ErrDerivedStep):
		abort(c, http.StatusConflict, "derived_step",
			"This step follows the user's Clerk profile and cannot be set here.")
		return
	case err != nil:
		a.abortErr(c, err)
		return
	}
	a.getOnboarding(c)
}

// listFlags lists fraud flags, newest first; ?status=flagged|kept|unbanned.
func (a *API) listFlags(c *gin.Context) {
	status := c.Query("status")
	if status != "" && status != "flagged" && status != "kept" && status != "unbanned" {
		abort(c, http.StatusBadRequest, "invalid_status", "status must be flagged, kept or unbanned.")
		return
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			abort(c, http.StatusBadRequest, "invalid_limit", "limit must be from 1 to 500.")
			return
		}
		limit = n
	}
	flags, err := a.flags.ListFlags(c.Request.Context(), status, "", limit)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"flags": flags})
}

// resolveFlag closes a flag: {"resolution":"keep"} or {"resolution":"unban"}.
func (a *API) resolveFlag(c *gin.Context) {
	var body struct {
		Resolution string `json:"resolution"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4096)
	if err := c.ShouldBindJSON(&body); err != nil {
		abort(c, http.StatusBadRequest, "invalid_body", `The body must be {"resolution":"keep"} or {"resolution":"unban"}.`)
		return
	}
	flag, err := a.fraud.Resolve(c.Request.Context(), c.Param("user_id"), body.Resolution)
	switch {
	case errors.Is(err, fraud.ErrBadResolution):
		abort(c, http.StatusBadRequest, "invalid_resolution", "resolution must be keep or unban.")
		return
	case errors.Is(err, postgres.ErrNoFlag):
		abort(c, http.StatusNotFound, "flag_not_found", "This user is not flagged.")
		return
	case err != nil:
		a.abortErr(c, err)
		return
	}
	c.JSON(http.StatusOK, flag)
}
