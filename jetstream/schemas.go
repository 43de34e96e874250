package jetstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
)

// Origins of a schema version: what it was learnt from.
const (
	// OriginSnapshot: read inside a consistent snapshot at its position.
	OriginSnapshot = "snapshot"
	// OriginDDL: the tracker applied a DDL statement of the binlog.
	OriginDDL = "ddl"
	// OriginSource: the source's schema when the tailer started there.
	OriginSource = "source"
	// OriginTarget: the target's table, for a start position in the past
	// (as TiDB DM does); a guess the binlog's row metadata may correct.
	OriginTarget = "target"
	// OriginSourceNow: the source's current schema, for a start position
	// in the past where nothing better is known; a guess.
	OriginSourceNow = "source-now"
	// OriginRowMetadata: derived from a TABLE_MAP event's column names
	// (binlog_row_metadata=FULL) and the definition it corrected.
	OriginRowMetadata = "row-metadata"
	// OriginOperator: set with dmnode binlog-schema update.
	OriginOperator = "operator"
)

// TableVersion is the schema of one upstream table from a binlog position
// on, until the next version of the same table.
type TableVersion struct {
	// Pos is where the version takes effect: the end of the DDL
	// transaction that made it, or the start position it was read at.
	// Row events of transactions ending after Pos are in this schema.
	Pos    dmnode.Position `json:"pos"`
	Schema string          `json:"schema"`
	Name   string          `json:"name"`
	// Table is the definition; nil when the table does not exist from Pos
	// on (dropped, renamed away).
	Table  *schema.Table `json:"table,omitempty"`
	Origin string        `json:"origin"`
}

// Guess reports whether the version was not read at its position but
// inferred (from the target, or the source's current schema): the binlog's
// row metadata may correct it.
func (v *TableVersion) Guess() bool {
	return v.Origin == OriginTarget || v.Origin == OriginSourceNow
}

// DatabaseVersion is the default charset of one database (Name "" for the
// server, which also carries the flavor) from a binlog position on.
type DatabaseVersion struct {
	Pos       dmnode.Position `json:"pos"`
	Name      string          `json:"name"`
	Charset   string          `json:"charset,omitempty"`
	Collation string          `json:"collation,omitempty"`
	Flavor    string          `json:"flavor,omitempty"`
	Dropped   bool            `json:"dropped,omitempty"`
}

// SchemaStore keeps the schema history of every source: one record per
// table and version, and per database and version, keyed by the binlog
// position the version takes effect at. The tailer writes a version for
// every table a DDL changes and the starting versions at its start
// position; the tailer and the applier read the versions in force at their
// own positions, so a restart anywhere decodes and applies with the schema
// the binlog was written under.
//
// "In force at p" means: the version with the greatest position at or
// before p. Writing a version again (a re-read binlog) is a no-op in
// effect; a later write at the same position replaces the earlier one.
// Methods are safe for concurrent use; they block on the store's round
// trips and return its errors wrapped.
//
// Promised: a version written is durable once PutTables or PutDatabases
// returns, and every later read sees it; the order of writes does not
// matter (a version is found by its position, not by when it was
// written), so a tailer that re-reads the binlog after a crash and writes
// its versions again leaves the history as it was.
//
// Not promised: a batch of versions is not written atomically (a crash
// may leave some of it, which the re-read completes); there is no fencing,
// since two writers of one source write the same versions at the same
// positions; no notification of new versions (a reader asks at its own
// position). The JetStream implementation and MemSchemas (which memstore
// uses) run one contract (TestSchemaStore).
type SchemaStore interface {
	// PutTables records table versions.
	PutTables(ctx context.Context, source string, vs []TableVersion) error
	// PutDatabases records database versions.
	PutDatabases(ctx context.Context, source string, vs []DatabaseVersion) error
	// Table returns the version of db.name in force at p; ok is false when
	// no version is at or before p. A dropped table's version has a nil
	// Table.
	Table(ctx context.Context, source, db, name string, p dmnode.Position) (v TableVersion, ok bool, err error)
	// History returns every version of db.name, oldest first.
	History(ctx context.Context, source, db, name string) ([]TableVersion, error)
	// At returns what is in force at p: every table that exists there and
	// every database's charset, in one pass over the source's records.
	At(ctx context.Context, source string, p dmnode.Position) (*SchemaSet, error)
	// HasAny reports whether any version of the source is at or before p.
	HasAny(ctx context.Context, source string, p dmnode.Position) (bool, error)
	// DeleteSource removes the source's whole history.
	DeleteSource(ctx context.Context, source string) error
}

// SchemaSet is the schema of a source at one position.
type SchemaSet struct {
	Tables    []TableVersion    // existing tables, by schema and name
	Databases []DatabaseVersion // existing databases, the server ("") first
}

// Tracker returns a schema tracker holding the set.
func (s *SchemaSet) Tracker() *schema.Tracker {
	tr := schema.NewTracker()
	for _, d := range s.Databases {
		if d.Name == "" && d.Flavor != "" {
			tr.SetFlavor(d.Flavor)
		}
		tr.SetDatabaseCharset(d.Name, d.Charset, d.Collation)
	}
	for _, v := range s.Tables {
		tr.Put(v.Table)
	}
	return tr
}

// Version returns the set's version of db.name.
func (s *SchemaSet) Version(db, name string) (TableVersion, bool) {
	i, ok := slices.BinarySearchFunc(s.Tables, [2]string{db, name}, func(v TableVersion, k [2]string) int {
		return cmp.Or(cmp.Compare(v.Schema, k[0]), cmp.Compare(v.Name, k[1]))
	})
	if !ok {
		return TableVersion{}, false
	}
	return s.Tables[i], true
}

// Untoken reverses Token.
func Untoken(tok string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '_' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("token %q: truncated escape: %w", tok, ErrCorrupt)
		}
		n, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("token %q: bad escape: %w", tok, ErrCorrupt)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// putParallel bounds the writes in flight when many versions are recorded
// at once (the starting schema of thousands of tables).
const putParallel = 16

// kvSchemas is the SchemaStore in the checkpoint bucket.
type kvSchemas struct{ kv jetstream.KeyValue }

// Schemas returns the schema history kept in the store's bucket.
func (s *Store) Schemas() SchemaStore { return kvSchemas{s.KV} }

// NewKVSchemaStore returns a SchemaStore kept in kv.
func NewKVSchemaStore(kv jetstream.KeyValue) SchemaStore { return kvSchemas{kv} }

func (k kvSchemas) put(ctx context.Context, keys []string, values []any) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(putParallel)
	for i := range keys {
		g.Go(func() error {
			data, err := json.Marshal(values[i])
			if err != nil {
				return fmt.Errorf("encode schema version %s: %w", keys[i], err)
			}
			if _, err := k.kv.Put(gctx, keys[i], data); err != nil {
				return fmt.Errorf("write schema version %s: %w", keys[i], err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (k kvSchemas) PutTables(ctx context.Context, source string, vs []TableVersion) error {
	keys, values := make([]string, len(vs)), make([]any, len(vs))
	for i := range vs {
		keys[i], values[i] = tableVersionKey(source, vs[i].Schema, vs[i].Name, vs[i].Pos), &vs[i]
	}
	return k.put(ctx, keys, values)
}

func (k kvSchemas) PutDatabases(ctx context.Context, source string, vs []DatabaseVersion) error {
	keys, values := make([]string, len(vs)), make([]any, len(vs))
	for i := range vs {
		keys[i], values[i] = databaseVersionKey(source, vs[i].Name, vs[i].Pos), &vs[i]
	}
	return k.put(ctx, keys, values)
}

// keys lists the keys matching filter; none is not an error.
func (k kvSchemas) keys(ctx context.Context, filter string) ([]string, error) {
	l, err := k.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filter, err)
	}
	defer l.Stop()
	var out []string
	for key := range l.Keys() {
		out = append(out, key)
	}
	return out, nil
}

func (k kvSchemas) Table(ctx context.Context, source, db, name string, p dmnode.Position) (TableVersion, bool, error) {
	keys, err := k.keys(ctx, schemaPrefix(source)+".t."+Token(db)+"."+Token(name)+".*.*")
	if err != nil {
		return TableVersion{}, false, err
	}
	best, bestPos := "", dmnode.Position{}
	for _, key := range keys {
		kp, err := keyPosition(key)
		if err != nil {
			return TableVersion{}, false, err
		}
		if kp.Compare(p) <= 0 && (best == "" || kp.Compare(bestPos) > 0) {
			best, bestPos = key, kp
		}
	}
	if best == "" {
		return TableVersion{}, false, nil
	}
	var v TableVersion
	if err := k.get(ctx, best, &v); err != nil {
		return TableVersion{}, false, err
	}
	return v, true, nil
}

func (k kvSchemas) get(ctx context.Context, key string, v any) error {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read schema version %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("decode schema version %s: %w", key, err)
	}
	return nil
}

func (k kvSchemas) History(ctx context.Context, source, db, name string) ([]TableVersion, error) {
	var out []TableVersion
	err := k.watch(ctx, schemaPrefix(source)+".t."+Token(db)+"."+Token(name)+".*.*", func(_ string, data []byte) error {
		var v TableVersion
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	slices.SortStableFunc(out, func(a, b TableVersion) int { return a.Pos.Compare(b.Pos) })
	return out, err
}

// watch calls fn with every current value under filter, in one pass.
func (k kvSchemas) watch(ctx context.Context, filter string, fn func(key string, data []byte) error) error {
	return walkKV(ctx, k.kv, filter, "read "+filter, func(e jetstream.KeyValueEntry) error {
		if err := fn(e.Key(), e.Value()); err != nil {
			return fmt.Errorf("decode schema version %s: %w", e.Key(), err)
		}
		return nil
	})
}

func (k kvSchemas) At(ctx context.Context, source string, p dmnode.Position) (*SchemaSet, error) {
	c := newCollector(p)
	err := k.watch(ctx, schemaPrefix(source)+".>", func(key string, data []byte) error {
		return c.add(key, data)
	})
	if err != nil {
		return nil, err
	}
	return c.set(), nil
}

func (k kvSchemas) HasAny(ctx context.Context, source string, p dmnode.Position) (bool, error) {
	keys, err := k.keys(ctx, schemaPrefix(source)+".>")
	if err != nil {
		return false, err
	}
	for _, key := range keys {
		kp, err := keyPosition(key)
		if err != nil {
			return false, err
		}
		if kp.Compare(p) <= 0 {
			return true, nil
		}
	}
	return false, nil
}

func (k kvSchemas) DeleteSource(ctx context.Context, source string) error {
	keys, err := k.keys(ctx, schemaPrefix(source)+".>")
	if err != nil {
		return err
	}
	for _, key := range keys {
		if err := k.kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	return nil
}

// collector keeps, per table and database, the latest version at or
// before its position.
type collector struct {
	at     dmnode.Position
	tables map[[2]string]TableVersion
	dbs    map[string]DatabaseVersion
}

func newCollector(at dmnode.Position) *collector {
	return &collector{at: at, tables: map[[2]string]TableVersion{}, dbs: map[string]DatabaseVersion{}}
}

func (c *collector) add(key string, data []byte) error {
	kp, err := keyPosition(key)
	if err != nil {
		return err
	}
	if kp.Compare(c.at) > 0 {
		return nil
	}
	if isTableKey(key) {
		var v TableVersion
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		c.addTable(v)
		return nil
	}
	var v DatabaseVersion
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	c.addDatabase(v)
	return nil
}

func (c *collector) addTable(v TableVersion) {
	k := [2]string{v.Schema, v.Name}
	if old, ok := c.tables[k]; !ok || v.Pos.Compare(old.Pos) >= 0 {
		c.tables[k] = v
	}
}

func (c *collector) addDatabase(v DatabaseVersion) {
	if old, ok := c.dbs[v.Name]; !ok || v.Pos.Compare(old.Pos) >= 0 {
		c.dbs[v.Name] = v
	}
}

func (c *collector) set() *SchemaSet {
	s := &SchemaSet{}
	for _, v := range c.tables {
		if v.Table != nil {
			s.Tables = append(s.Tables, v)
		}
	}
	slices.SortFunc(s.Tables, func(a, b TableVersion) int {
		return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Name, b.Name))
	})
	for _, d := range c.dbs {
		if !d.Dropped {
			s.Databases = append(s.Databases, d)
		}
	}
	slices.SortFunc(s.Databases, func(a, b DatabaseVersion) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

// MemSchemas is a SchemaStore in memory, for unit tests.
type MemSchemas struct {
	mu     sync.Mutex
	values map[string][]byte // by key, as the KV store keeps them
}

// NewMemSchemas returns an empty in-memory SchemaStore.
func NewMemSchemas() *MemSchemas { return &MemSchemas{values: map[string][]byte{}} }

func (m *MemSchemas) put(key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode schema version %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[key] = data
	return nil
}

func (m *MemSchemas) PutTables(_ context.Context, source string, vs []TableVersion) error {
	for i := range vs {
		if err := m.put(tableVersionKey(source, vs[i].Schema, vs[i].Name, vs[i].Pos), &vs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *MemSchemas) PutDatabases(_ context.Context, source string, vs []DatabaseVersion) error {
	for i := range vs {
		if err := m.put(databaseVersionKey(source, vs[i].Name, vs[i].Pos), &vs[i]); err != nil {
			return err
		}
	}
	return nil
}

// each calls fn with every key and value under prefix.
func (m *MemSchemas) each(prefix string, fn func(key string, data []byte) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, data := range m.values {
		if strings.HasPrefix(key, prefix) {
			if err := fn(key, data); err != nil {
				return fmt.Errorf("decode schema version %s: %w", key, err)
			}
		}
	}
	return nil
}

func (m *MemSchemas) History(_ context.Context, source, db, name string) ([]TableVersion, error) {
	var out []TableVersion
	err := m.each(schemaPrefix(source)+".t."+Token(db)+"."+Token(name)+".", func(_ string, data []byte) error {
		var v TableVersion
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	slices.SortStableFunc(out, func(a, b TableVersion) int { return a.Pos.Compare(b.Pos) })
	return out, err
}

func (m *MemSchemas) Table(ctx context.Context, source, db, name string, p dmnode.Position) (TableVersion, bool, error) {
	h, err := m.History(ctx, source, db, name)
	if err != nil {
		return TableVersion{}, false, err
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Pos.Compare(p) <= 0 {
			return h[i], true, nil
		}
	}
	return TableVersion{}, false, nil
}

func (m *MemSchemas) At(_ context.Context, source string, p dmnode.Position) (*SchemaSet, error) {
	c := newCollector(p)
	if err := m.each(schemaPrefix(source)+".", c.add); err != nil {
		return nil, err
	}
	return c.set(), nil
}

func (m *MemSchemas) HasAny(_ context.Context, source string, p dmnode.Position) (bool, error) {
	found := false
	err := m.each(schemaPrefix(source)+".", func(key string, _ []byte) error {
		kp, err := keyPosition(key)
		if err == nil && kp.Compare(p) <= 0 {
			found = true
		}
		return err
	})
	return found, err
}

func (m *MemSchemas) DeleteSource(_ context.Context, source string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.values {
		if strings.HasPrefix(key, schemaPrefix(source)+".") {
			delete(m.values, key)
		}
	}
	return nil
}
