package plan

import (
	"sync"
	"sync/atomic"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
)

// sourceFiles keeps each catalog source's decoded file, one version per
// source: a source file is decoded once per version, whoever asks
// (Plan.Source, the tailer, status and schema commands).
var sourceFiles = struct {
	sync.Mutex
	m map[string]*sourceFile
}{m: map[string]*sourceFile{}}

type sourceFile struct {
	file, yaml string
	cfg        *config.Source
}

var sourceDecodes atomic.Int64

// SourceDecodes returns how many source files the process has decoded
// through SourceOf (for tests).
func SourceDecodes() int64 { return sourceDecodes.Load() }

// SourceOf returns the decoded file of a catalog source, decoded on the
// first call for its version and shared after: read it, never modify it.
// An error is config.DecodeSource's, and is not kept.
func SourceOf(s *catalog.Source) (*config.Source, error) {
	sourceFiles.Lock()
	if f := sourceFiles.m[s.ID]; f != nil && f.file == s.File && f.yaml == s.YAML {
		sourceFiles.Unlock()
		return f.cfg, nil
	}
	sourceFiles.Unlock()
	sourceDecodes.Add(1)
	cfg, err := config.DecodeSource(s.File, []byte(s.YAML))
	if err != nil {
		return nil, err
	}
	sourceFiles.Lock()
	defer sourceFiles.Unlock()
	if len(sourceFiles.m) >= maxTasks {
		clear(sourceFiles.m) // removed sources, in practice
	}
	sourceFiles.m[s.ID] = &sourceFile{file: s.File, yaml: s.YAML, cfg: cfg}
	return cfg, nil
}
