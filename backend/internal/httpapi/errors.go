package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/usersync"
)

// errorBody is the one error shape of the API:
// {"error":{"code":"snake_case","message":"human text"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// abort answers with the error shape and stops the handler chain.
func abort(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{errorDetail{Code: code, Message: message}})
}

// abortRetry is abort for a 503 that tells the client when to come back.
func abortRetry(c *gin.Context, after time.Duration, code, message string) {
	secs := max(1, int(after.Round(time.Second)/time.Second))
	c.Header("Retry-After", strconv.Itoa(secs))
	abort(c, http.StatusServiceUnavailable, code, message)
}

// abortErr maps a domain error to its status and code; unknown errors are
// logged once here and answered without their text.
func (a *API) abortErr(c *gin.Context, err error) {
	var unavailable *clerkapi.UnavailableError
	switch {
	case errors.Is(err, user.ErrDeleted):
		abort(c, http.StatusUnauthorized, "user_deleted",
			"This user has been deleted.")
	case errors.Is(err, user.ErrNotFound):
		abort(c, http.StatusNotFound, "user_not_found",
			"No user is stored for this session.")
	case errors.Is(err, usersync.ErrNotSynced):
		abortRetry(c, 5*time.Second, "user_not_synced",
			"This user has not been synced yet; retry shortly.")
	case errors.As(err, &unavailable):
		abortRetry(c, unavailable.RetryAfter, "clerk_unavailable",
			"Clerk is unavailable or rate limiting; retry later.")
	case errors.Is(err, postgres.ErrInvalidData):
		abort(c, http.StatusBadRequest, "invalid_input",
			"The request holds characters or values the database cannot take.")
	case errors.Is(err, clerkapi.ErrRejected):
		a.logger.ErrorContext(c.Request.Context(), "httpapi: clerk refused a call", "err", err)
		abort(c, http.StatusBadGateway, "clerk_error",
			"Clerk refused the request; see the server log.")
	case errors.Is(err, postgres.ErrUnavailable):
		a.logger.ErrorContext(c.Request.Context(), "httpapi: database unavailable", "err", err)
		abortRetry(c, 5*time.Second, "database_unavailable",
			"The database is unavailable; retry later.")
	default:
		a.logger.ErrorContext(c.Request.Context(), "httpapi: internal error", "err", err)
		abort(c, http.StatusInternalServerError, "internal_error",
			"Something went wrong on our side.")
	}
}
