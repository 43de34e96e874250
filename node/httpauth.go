package node

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
)

// The HTTP API of a node with cluster credentials (`dmnode start` on its
// embedded servers) takes a bearer token per role: the admin token may do
// everything, the viewer token only what changes nothing. A token is
// derived from the role's nkey seed (HTTPToken), so whoever holds admin.nk
// or viewer.nk can compute it with `dmnode creds token` and no new secret
// is stored. Dev mode and nodes on an external NATS (whose credentials are
// that NATS's) ask for none: their HTTP port binds to loopback unless told
// otherwise. /healthz, /readyz, /metrics, the console's static files and
// the OpenAPI document are open: they hold no data of the migration.

// HTTPToken is the bearer token of the role whose nkey seed is seed.
func HTTPToken(seed string) (string, error) {
	kp, err := nkeys.ParseDecoratedNKey([]byte(seed))
	if err != nil {
		return "", fmt.Errorf("not an nkey seed: %w", err)
	}
	defer kp.Wipe() // after the MAC: Seed returns the key's own bytes
	raw, err := kp.Seed()
	if err != nil {
		return "", fmt.Errorf("not an nkey seed: %w", err)
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("dmnode http api token v1"))
	return "dmnode-" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// HTTPTokenFromFile reads an nkey seed file (admin.nk, viewer.nk) and
// returns its role's token.
func HTTPTokenFromFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	tok, err := HTTPToken(string(b))
	if err != nil {
		return "", fmt.Errorf("credentials %s: %w", path, err)
	}
	return tok, nil
}

// httpRoles holds the tokens a node accepts; nil means no authentication.
type httpRoles struct{ admin, viewer string }

func newHTTPRoles(c *ClusterCreds) (*httpRoles, error) {
	if c == nil {
		return nil, nil
	}
	admin, err := HTTPToken(c.AdminSeed)
	if err != nil {
		return nil, fmt.Errorf("admin http token: %w", err)
	}
	viewer, err := HTTPToken(c.ViewerSeed)
	if err != nil {
		return nil, fmt.Errorf("viewer http token: %w", err)
	}
	return &httpRoles{admin: admin, viewer: viewer}, nil
}

// role names the role whose token the request carries, or "".
func (h *httpRoles) role(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return ""
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
	case subtle.ConstantTimeCompare([]byte(tok), []byte(h.admin)) == 1:
		return RoleAdmin
	case subtle.ConstantTimeCompare([]byte(tok), []byte(h.viewer)) == 1:
		return RoleViewer
	}
	return ""
}

// viewerMay reports whether a route changes nothing, so that the viewer
// role may call it.
func (rt apiRoute) viewerMay() bool {
	if rt.Method == http.MethodGet {
		return true
	}
	if m, ok := strings.CutPrefix(rt.Path, "/api/v1/dmnode/"); ok && readMethods[m] {
		return true
	}
	return rt.Path == "/api/v1/tasks/converters" // a pure conversion
}

// guard wraps a route's handler with the role check: 401 without a valid
// token, 403 when the viewer asks for a change.
func (h *httpRoles) guard(rt apiRoute, next http.HandlerFunc) http.HandlerFunc {
	if h == nil || rt.Path == "/api/v1/openapi.json" {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		switch role := h.role(r); {
		case role == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="dmnode"`)
			writeError(w, http.StatusUnauthorized, "this node's HTTP API needs a bearer token (Authorization: Bearer TOKEN): `dmnode creds token --creds DATA_DIR/secrets/admin.nk` (or viewer.nk) prints it")
		case role == RoleViewer && !rt.viewerMay():
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s %s changes the migration: the viewer token may only read; use the admin token", rt.Method, rt.Path))
		default:
			next(w, r)
		}
	}
}
