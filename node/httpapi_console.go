package node

import (
	"embed"
	"io/fs"
	"net/http"
)

// The web console is plain HTML, CSS and JavaScript embedded in the
// binary: no framework, no build step, nothing fetched at run time. It
// reads and acts through the HTTP API only (/api/v1/dmnode/...), so it can
// do nothing the CLI cannot.
//
//go:embed console
var consoleFiles embed.FS

func mountConsole(mux *http.ServeMux) {
	sub, _ := fs.Sub(consoleFiles, "console")
	files := http.FileServerFS(sub)
	mux.Handle("GET /console/", http.StripPrefix("/console/", files))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, sub, "index.html")
	})
}
