package clerkemu

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/clerk/clerk-sdk-go/v2"
)

// idAlphabet is the character set of generated ids, like Clerk's.
const idAlphabet = "0123456789" +
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns prefix followed by 27 random base62 characters.
func randomID(prefix string) string {
	const n = 27
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)

	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			// 248 is the largest multiple of 62 below 256: no bias.
			if b < 248 && len(out) < n {
				out = append(out, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return prefix + string(out)
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError,
			"internal_clerk_error", "encode response", err.Error())
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes a Clerk-shaped error body that clerk-sdk-go turns
// into a *clerk.APIErrorResponse.
func writeError(
	w http.ResponseWriter, status int, code, msg, long string,
) {
	body, _ := json.Marshal(struct {
		Errors []clerk.Error `json:"errors"`
	}{
		Errors: []clerk.Error{{
			Code:        code,
			Message:     msg,
			LongMessage: long,
		}},
	})

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// writeTooLarge answers 413 for bodies above maxBodyBytes.
func writeTooLarge(w http.ResponseWriter) {
	writeError(w, http.StatusRequestEntityTooLarge,
		"request_body_too_large", "request body too large",
		"Request bodies are limited to 1 MiB.")
}

// writeInvalid answers 422 for a bad parameter.
func writeInvalid(w http.ResponseWriter, param, long string) {
	writeError(w, http.StatusUnprocessableEntity,
		"form_param_value_invalid", "is invalid: "+param, long)
}

// writeUserNotFound answers 404 for an unknown user id.
func writeUserNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "resource_not_found",
		"not found", "The requested user could not be found.")
}

// decodeBody reads a JSON body into v; an empty body leaves v as is.
// On failure it writes the error response and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(r.Body).Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return true
	}

	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeTooLarge(w)
		return false
	}

	writeError(w, http.StatusBadRequest, "malformed_request",
		"malformed request body", err.Error())
	return false
}
