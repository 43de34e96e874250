package node

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The HTTP API's role check: no token or a wrong one is 401, the viewer's
// token reads but may not change anything (403), the admin's does
// everything; a node without cluster credentials checks nothing.
func TestHTTPRoles(t *testing.T) {
	creds, err := NewClusterCreds()
	if err != nil {
		t.Fatal(err)
	}
	roles, err := newHTTPRoles(creds)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := HTTPToken(creds.AdminSeed)
	viewer, _ := HTTPToken(creds.ViewerSeed)
	other, _ := NewClusterCreds()
	stranger, _ := HTTPToken(other.AdminSeed)
	if admin == viewer || admin == stranger {
		t.Fatal("tokens of different seeds are equal")
	}
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	read := apiRoute{Method: http.MethodGet, Path: "/api/v1/tasks"}
	readPost := apiRoute{Method: http.MethodPost, Path: "/api/v1/dmnode/task.status"}
	write := apiRoute{Method: http.MethodPost, Path: "/api/v1/dmnode/task.pause"}
	del := apiRoute{Method: http.MethodDelete, Path: "/api/v1/tasks/{task-name}"}
	doc := apiRoute{Method: http.MethodGet, Path: "/api/v1/openapi.json"}
	for _, c := range []struct {
		name  string
		rt    apiRoute
		auth  string
		roles *httpRoles
		want  int
	}{
		{"no token", read, "", roles, http.StatusUnauthorized},
		{"empty token", read, "Bearer ", roles, http.StatusUnauthorized},
		{"another cluster's token", read, "Bearer " + stranger, roles, http.StatusUnauthorized},
		{"not a bearer", read, "Basic " + admin, roles, http.StatusUnauthorized},
		{"viewer reads", read, "Bearer " + viewer, roles, http.StatusOK},
		{"viewer reads by POST", readPost, "Bearer " + viewer, roles, http.StatusOK},
		{"viewer pauses", write, "Bearer " + viewer, roles, http.StatusForbidden},
		{"viewer deletes", del, "Bearer " + viewer, roles, http.StatusForbidden},
		{"admin pauses", write, "Bearer " + admin, roles, http.StatusOK},
		{"admin deletes", del, "Bearer " + admin, roles, http.StatusOK},
		{"document is open", doc, "", roles, http.StatusOK},
		{"dev node checks nothing", write, "", nil, http.StatusOK},
		{"node whose tokens failed refuses all", read, "Bearer ", &httpRoles{}, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.rt.Method, "/x", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			c.roles.guard(c.rt, ok)(w, req)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
		})
	}
}
