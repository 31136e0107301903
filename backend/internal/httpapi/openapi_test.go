package httpapi_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"

	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/httpapi"
	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// specPath is docs/openapi.yaml, relative to this package's directory
// (go test runs in it).
var specPath = filepath.Join("..", "..", "..", "docs", "openapi.yaml")

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIDocumentsEveryRoute fails when a route is registered without
// being in docs/openapi.yaml, or documented without being registered.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	documented := documentedRoutes(t, readSpec(t))

	t.Run("beta", func(t *testing.T) {
		// beta registers every route there is, the webhook included.
		registered := registeredRoutes(t, user.PhaseBeta)
		t.Logf("registered routes:\n  %s", strings.Join(registered, "\n  "))
		for _, r := range registered {
			if !slices.Contains(documented, r) {
				t.Errorf("%s is registered but not documented in docs/openapi.yaml", r)
			}
		}
		for _, r := range documented {
			if !slices.Contains(registered, r) {
				t.Errorf("%s is documented in docs/openapi.yaml but not registered", r)
			}
		}
	})

	t.Run("production", func(t *testing.T) {
		registered := registeredRoutes(t, user.PhaseProduction)
		for _, r := range registered {
			if !slices.Contains(documented, r) {
				t.Errorf("%s is registered in production but not documented", r)
			}
		}
	})

	t.Run("mvp", func(t *testing.T) {
		// mvp answers every method on the webhook path with 404
		// webhooks_disabled; the spec describes that as a response of
		// POST. Any other route mvp registers must be documented.
		for _, r := range registeredRoutes(t, user.PhaseMVP) {
			if strings.HasSuffix(r, " /api/webhooks/clerk") {
				continue
			}
			if !slices.Contains(documented, r) {
				t.Errorf("%s is registered in mvp but not documented", r)
			}
		}
	})
}

// TestOpenAPIIsWellFormed checks what a reader or a generator relies on:
// the version, a response list on every operation, 401 on every
// authenticated one, and local $refs that resolve.
func TestOpenAPIIsWellFormed(t *testing.T) {
	spec := readSpec(t)

	version, _ := spec["openapi"].(string)
	if !strings.HasPrefix(version, "3.1.") {
		t.Errorf("openapi: got %q, want 3.1.x", version)
	}

	for path, item := range asMap(spec["paths"]) {
		for method, op := range asMap(item) {
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			name := strings.ToUpper(method) + " " + path
			opMap := asMap(op)
			responses := asMap(opMap["responses"])
			if len(responses) == 0 {
				t.Errorf("%s has no responses", name)
			}
			if sec, ok := opMap["security"].([]any); ok && len(sec) > 0 {
				if _, ok := responses["401"]; !ok {
					t.Errorf("%s requires a session but documents no 401", name)
				}
			}
		}
	}

	walk(spec, func(ref string) {
		if !strings.HasPrefix(ref, "#/") {
			t.Errorf("$ref %q: only local references are expected", ref)
			return
		}
		var node any = spec
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			m := asMap(node)
			next, ok := m[part]
			if !ok {
				t.Errorf("$ref %q does not resolve", ref)
				return
			}
			node = next
		}
	})
}

// registeredRoutes builds the real router for phase, mounting the
// webhook route as app.New does, and returns "METHOD /path" for each
// route, with gin's :param and *param written as OpenAPI's {param}.
func registeredRoutes(t *testing.T, phase user.Phase) []string {
	t.Helper()
	cfg := &config.Config{
		Phase:              phase,
		CORSAllowedOrigins: []string{"http://localhost:3000"},
	}
	api := httpapi.New(httpapi.Deps{
		Config:  cfg,
		Metrics: metrics.New(),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if cfg.Phase.WebhooksEnabled() {
		api.Mount(func(r *gin.Engine, _ gin.HandlerFunc) {
			r.POST("/api/webhooks/clerk", func(*gin.Context) {})
		})
	}

	engine, ok := api.Handler().(*gin.Engine)
	if !ok {
		t.Fatalf("Handler() is %T, want *gin.Engine", api.Handler())
	}
	var out []string
	for _, r := range engine.Routes() {
		if r.Method == "OPTIONS" && r.Path == "/api/*path" {
			continue // the CORS preflight route
		}
		out = append(out, r.Method+" "+ginToOpenAPI(r.Path))
	}
	if len(out) == 0 {
		t.Fatal("the router registers no routes")
	}
	slices.Sort(out)
	return out
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// ginToOpenAPI turns /users/:id and /files/*path into /users/{id} and
// /files/{path}.
func ginToOpenAPI(path string) string {
	return ginParam.ReplaceAllString(path, "{$1}")
}

// readSpec parses docs/openapi.yaml.
func readSpec(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read the spec: %v", err)
	}
	var spec map[string]any
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatalf("parse %s: %v", specPath, err)
	}
	return spec
}

// documentedRoutes returns "METHOD /path" for each operation of the spec.
func documentedRoutes(t *testing.T, spec map[string]any) []string {
	t.Helper()
	paths := asMap(spec["paths"])
	if len(paths) == 0 {
		t.Fatal("the spec has no paths")
	}
	var out []string
	for path, item := range paths {
		for key := range asMap(item) {
			if slices.Contains(openAPIMethods, key) {
				out = append(out, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// asMap returns a YAML mapping with string keys (nil for anything else).
func asMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[keyString(k)] = v
		}
		return out
	}
	return nil
}

func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case uint64:
		return strconv.FormatUint(k, 10)
	case int64:
		return strconv.FormatInt(k, 10)
	}
	return fmt.Sprint(k)
}

// walk calls f with the value of every $ref in the tree.
func walk(v any, f func(ref string)) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	default:
		m := asMap(v)
		for k, e := range m {
			if s, ok := e.(string); ok && k == "$ref" {
				f(s)
				continue
			}
			walk(e, f)
		}
	}
}
