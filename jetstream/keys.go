package jetstream

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode"
)

// The key space of the checkpoint bucket (Bucket). Every key is built here;
// names (task, source, schema, table, binlog file) go through Token, so a
// dot in a name never makes a new level. A tailer's keys have no task.
//
//	dump.<task>.<source>                       dumper checkpoint: the snapshot and its tables (DumpKey)
//	dumptable.<task>.<source>.<db>.<table>     one table's dump plan and chunks done (DumpTableKey)
//	loadindex.<task>.<source>.<db>.<table>     a loader's deferred secondary indexes of a table (LoadIndexKey)
//	tail.<source>                              tailer checkpoint: binlog position, schemas (TailKey)
//	start.<source>                             where the source's relay starts, the dumper's hand-over
//	                                             to the tailer (SourceStartKey, records.go: SourceStart)
//	relaystart.<source>                        end of the last transaction purged from the relay (RelayStartKey)
//	dumpschemas.<task>.<source>                where the schemas of a dump's tables are, the dumper's hand-over
//	                                             to the loader (DumpSchemasKey, records.go: DumpSchemas)
//	hold.<task>.<source>                       a verifier's request to hold the applier (HoldKey)
//	held.<task>.<source>                       the applier's answer: where it holds (HeldKey)
//	progress.dump.<task>.<source>              progress records, written by the actors for
//	progress.load.<task>.<source>                status and placement weights; never fenced
//	progress.apply.<task>.<source>               (ProgressKey, and the per-kind helpers)
//	progress.tail.<source>                       (TailProgressKey, records.go: TailProgress)
//	progress.relay.<source>
//	error.<kind>.<task>.<source>               an actor's last error (ErrorKey); error.tail.<source>
//	validator.<task>.<source>                  the continuous validator's position and errors (ValidatorKey)
//	health.<node>                              a node's JetStream write probe (HealthKey)
//	cluster.founder                            on an external NATS, the node that founded the cluster (FounderKey)
//	schema.<source>.t.<db>.<table>.<file>.<pos>  a table version      (schema history, schemas.go)
//	schema.<source>.d.<db>.<file>.<pos>          a database version
//	schema.<source>.s.<file>.<pos>               the server's charset and flavor
//
// The applier's own checkpoint lives in the target (dmnode_meta), not here.
// A new key goes into this table and gets its builder below.
//
// A checkpoint (dump, dumptable, loadindex, tail, validator) is read and
// written by its actor alone; another actor, or the control layer, reads
// what an actor publishes for it: the records of records.go, the progress
// and error reports, the hold and its answer, and the schema history.

// Key builds a checkpoint key from its parts, e.g. Key("apply", task,
// source). Empty names are left out (a tailer has no task).
func Key(kind string, names ...string) string {
	parts := []string{kind}
	for _, n := range names {
		if n != "" {
			parts = append(parts, Token(n))
		}
	}
	return strings.Join(parts, ".")
}

// DumpKey is the dumper's checkpoint of a task's source.
func DumpKey(task, source string) string { return Key("dump", task, source) }

// DumpTablesPrefix is the prefix of a dump's table keys.
func DumpTablesPrefix(task, source string) string { return Key("dumptable", task, source) }

// DumpTableKey is the key of one table's dump plan and chunks done.
func DumpTableKey(task, source, db, table string) string {
	return Key("dumptable", task, source, db, table)
}

// LoadIndexKey is the key of the secondary indexes a task's loader of a
// source deferred on a target table.
func LoadIndexKey(task, source, db, table string) string {
	return Key("loadindex", task, source, db, table)
}

// LoadIndexPrefix is the prefix of the deferred indexes of a task, or of
// one of its sources (source empty: every source).
func LoadIndexPrefix(task, source string) string { return Key("loadindex", task, source) }

// TailKey is a source's tailer checkpoint: the tailer's own, read by no
// one else.
func TailKey(source string) string { return Key("tail", source) }

// SourceStartKey holds the SourceStart of a source.
func SourceStartKey(source string) string { return Key("start", source) }

// TailProgressKey holds the TailProgress a source's tailer publishes.
func TailProgressKey(source string) string { return ProgressKey("tail", "", source) }

// DumpSchemasKey holds the DumpSchemas of a task's dump of a source.
func DumpSchemasKey(task, source string) string { return Key("dumpschemas", task, source) }

// RelayStartKey holds the end position of the last message purged from a
// source's relay.
func RelayStartKey(source string) string { return Key("relaystart", source) }

// HoldKey is where a verifier asks a task's applier of a source to hold.
func HoldKey(task, source string) string { return Key("hold", task, source) }

// ValidatorKey is the continuous validator's state of a task's source.
func ValidatorKey(task, source string) string { return Key("validator", task, source) }

// HealthKey is the key a node writes to probe that JetStream takes writes.
func HealthKey(node string) string { return Key("health", node) }

// FounderKey names, on an external NATS, the node that founded the cluster.
const FounderKey = "cluster.founder"

// HeldKey is where the applier answers a hold.
func HeldKey(task, source string) string { return Key("held", task, source) }

// ProgressKey is the progress record of an actor: kind is dump, load,
// apply, tail or relay; task is empty for tail and relay.
func ProgressKey(kind, task, source string) string { return Key("progress", kind, task, source) }

// ErrorKey holds an actor's last error; task is empty for a tailer.
func ErrorKey(kind, task, source string) string { return Key("error", kind, task, source) }

// Schema keys, in the checkpoint bucket under their own prefix:
//
//	schema.<source>.t.<db>.<table>.<file>.<pos>   a table version
//	schema.<source>.d.<db>.<file>.<pos>           a database version
//	schema.<source>.s.<file>.<pos>                the server's charset and flavor
//
// Names go through Token; pos is ten zero-padded digits, so the versions of
// one table are listed by one wildcard and their positions read back from
// the keys without fetching the values.
func schemaPrefix(source string) string { return "schema." + Token(source) }

func posSuffix(p dmnode.Position) string {
	return Token(p.File) + "." + fmt.Sprintf("%010d", p.Pos)
}

func tableVersionKey(source, db, name string, p dmnode.Position) string {
	return schemaPrefix(source) + ".t." + Token(db) + "." + Token(name) + "." + posSuffix(p)
}

func databaseVersionKey(source, db string, p dmnode.Position) string {
	if db == "" {
		return schemaPrefix(source) + ".s." + posSuffix(p)
	}
	return schemaPrefix(source) + ".d." + Token(db) + "." + posSuffix(p)
}

// keyPosition reads the position back from the last two tokens of a key.
func keyPosition(key string) (dmnode.Position, error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 {
		return dmnode.Position{}, fmt.Errorf("schema key %q: no position: %w", key, ErrCorrupt)
	}
	file, err := Untoken(parts[len(parts)-2])
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("schema key %q: %w", key, err)
	}
	pos, err := strconv.ParseUint(parts[len(parts)-1], 10, 32)
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("schema key %q: %w", key, ErrCorrupt)
	}
	return dmnode.Position{File: file, Pos: uint32(pos)}, nil
}

// isTableKey tells a table version's key from a database's: the kind is
// the third token.
func isTableKey(key string) bool {
	parts := strings.SplitN(key, ".", 4)
	return len(parts) == 4 && parts[2] == "t"
}
