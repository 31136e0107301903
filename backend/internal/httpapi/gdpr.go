package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gin-gonic/gin"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/gdpr"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Eraser erases and exports a user's data; *gdpr.Eraser is one.
type Eraser interface {
	Erase(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error)
	Export(ctx context.Context, clerkID string) (gdpr.Export, error)
}

// ClerkDeleter deletes a user in Clerk; *clerkapi.Client is one.
type ClerkDeleter interface {
	DeleteUser(ctx context.Context, clerkID string) error
}

// Analytics reads the daily counts; *postgres.DB is one.
type Analytics interface {
	AnalyticsCounts(ctx context.Context, from, to time.Time) ([]postgres.DailyCount, error)
}

// deleteMe deletes the caller in Clerk, then erases them here at once; the
// user.deleted webhook that follows finds the tombstone and does nothing.
// If Clerk cannot be reached nothing is erased, so the two stay in step.
func (a *API) deleteMe(c *gin.Context) {
	claims := c.MustGet(keyClaims).(*clerkapi.Claims)
	ctx := c.Request.Context()

	if err := a.clerk.DeleteUser(ctx, claims.UserID); err != nil {
		a.abortErr(c, err)
		return
	}
	// Clerk has forgotten the user: the erasure must happen even if the
	// caller goes away, so it runs on its own deadline and is retried.
	// Should the database stay down throughout, the user.deleted webhook
	// (beta, production) or `clerksync reconcile --fix` erases later.
	eraseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := backoff.Retry(eraseCtx, func() (user.Outcome, error) {
		return a.eraser.Erase(eraseCtx, claims.UserID, user.SourceRequest)
	}, backoff.WithMaxTries(4))
	if err != nil {
		a.abortErr(c, err)
		return
	}
	a.syncer.Forget(claims.UserID)
	c.JSON(http.StatusOK, gin.H{"status": "erased", "clerk_id": claims.UserID})
}

// exportMe returns everything stored about the caller as a JSON download.
func (a *API) exportMe(c *gin.Context) {
	u := currentUser(c)
	export, err := a.eraser.Export(c.Request.Context(), u.ClerkID)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.Header("Content-Disposition",
		fmt.Sprintf(`attachment; filename="export-%s.json"`, u.ClerkID))
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, export)
}

// requireAdmin lets through callers whose synced row has
// public_metadata.role == "admin"; run it after the session middleware.
func requireAdmin(c *gin.Context) {
	if currentUser(c).Role() != "admin" {
		abort(c, http.StatusForbidden, "forbidden", "This route is for admins.")
	}
}

// maxAnalyticsDays bounds one analytics query.
const maxAnalyticsDays = 366

// analytics returns daily counts per type, and totals, for from..to.
func (a *API) analytics(c *gin.Context) {
	from, err1 := time.Parse(time.DateOnly, c.Query("from"))
	to, err2 := time.Parse(time.DateOnly, c.Query("to"))
	switch {
	case err1 != nil || err2 != nil:
		abort(c, http.StatusBadRequest, "invalid_date_range",
			"from and to are required, as YYYY-MM-DD.")
		return
	case to.Before(from):
		abort(c, http.StatusBadRequest, "invalid_date_range", "to is before from.")
		return
	case to.Sub(from) >= maxAnalyticsDays*24*time.Hour:
		abort(c, http.StatusBadRequest, "invalid_date_range",
			fmt.Sprintf("The range is limited to %d days.", maxAnalyticsDays))
		return
	}

	counts, err := a.analyticsDB.AnalyticsCounts(c.Request.Context(), from, to)
	if err != nil {
		a.abortErr(c, err)
		return
	}

	days := map[string]map[string]int64{}
	var order []string
	totals := map[string]int64{}
	for _, dc := range counts {
		day := dc.Day.Format(time.DateOnly)
		if days[day] == nil {
			days[day] = map[string]int64{}
			order = append(order, day)
		}
		days[day][dc.Type] = dc.Count
		totals[dc.Type] += dc.Count
	}
	out := make([]gin.H, 0, len(order))
	for _, day := range order {
		out = append(out, gin.H{"date": day, "counts": days[day]})
	}
	c.JSON(http.StatusOK, gin.H{
		"from": from.Format(time.DateOnly),
		"to":   to.Format(time.DateOnly),
		"days": out,
		"totals": gin.H{
			"signups":            totals["user_signed_up"],
			"deletions":          totals["user_deleted"],
			"updates":            totals["user_updated"],
			"sessions":           totals["session_created"],
			"daily_active_users": totals["user_active"],
		},
	})
}
