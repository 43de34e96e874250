package filter

import (
	"fmt"
	"slices"
	"strings"
)

// Event is the name of a binlog event type, as written in a rule's events
// list: "insert", "drop column", "incompatible ddl changes"...
type Event string

// Words that select groups of events.
const (
	All                    Event = "all"
	AllDML                 Event = "all dml"
	AllDDL                 Event = "all ddl"
	None                   Event = "none"
	NoneDML                Event = "none dml"
	NoneDDL                Event = "none ddl"
	IncompatibleDDLChanges Event = "incompatible ddl changes"
)

// Row events.
const (
	Insert Event = "insert"
	Update Event = "update"
	Delete Event = "delete"
)

// Statement events. "create schema", "drop schema" and "alter schema" are
// accepted as spellings of the database events.
const (
	CreateDatabase         Event = "create database"
	DropDatabase           Event = "drop database"
	AlterDatabase          Event = "alter database"
	CreateTable            Event = "create table"
	DropTable              Event = "drop table"
	TruncateTable          Event = "truncate table"
	RenameTable            Event = "rename table"
	CreateIndex            Event = "create index"
	DropIndex              Event = "drop index"
	CreateView             Event = "create view"
	DropView               Event = "drop view"
	AlterTable             Event = "alter table"
	AddTablePartition      Event = "add table partition"
	DropTablePartition     Event = "drop table partition"
	TruncateTablePartition Event = "truncate table partition"
	AddForeignKey          Event = "add foreign key"
	DropForeignKey         Event = "drop foreign key"
)

// The members of "incompatible ddl changes" that name one part of an
// ALTER TABLE.
const (
	ValueRangeDecrease  Event = "value range decrease"
	PrecisionDecrease   Event = "precision decrease"
	ModifyColumn        Event = "modify column"
	RenameColumn        Event = "rename column"
	RenameIndex         Event = "rename index"
	DropColumn          Event = "drop column"
	DropPrimaryKey      Event = "drop primary key"
	DropUniqueKey       Event = "drop unique key"
	ModifyDefaultValue  Event = "modify default value"
	ModifyConstraint    Event = "modify constraint"
	ModifyColumnsOrder  Event = "modify columns order"
	ModifyCharset       Event = "modify charset"
	ModifyCollation     Event = "modify collation"
	RemoveAutoIncrement Event = "remove auto increment"
	ModifyStorageEngine Event = "modify storage engine"
	ReorganizePartition Event = "reorganize table partition"
	RebuildPartition    Event = "rebuild table partition"
	CoalescePartition   Event = "coalesce table partition"
	SplitPartition      Event = "split table partition"
	ExchangePartition   Event = "exchange table partition"
)

// Finer names that DM's event filter library accepts (TiCDC uses them) but
// DM's replication never produces. dmnode gives them to the matching parts
// of statements as additional names (DDLEvent.Also); RecoverTable,
// AlterTTLInfo, AlterTTLRemove and MultiSchemaChange never match (see Note).
const (
	AddColumn                     Event = "add column"
	AddPrimaryKey                 Event = "add primary key"
	SetDefaultValue               Event = "set default value"
	ModifyTableComment            Event = "modify table comment"
	RebaseAutoID                  Event = "rebase auto id"
	AlterIndexVisibility          Event = "alter index visibility"
	AlterTablePartitioning        Event = "alter table partitioning"
	RemovePartitioning            Event = "remove table partitioning"
	ModifySchemaCharsetAndCollate Event = "modify schema charset and collate"
	ModifyTableCharsetAndCollate  Event = "modify table charset and collate"
	RecoverTable                  Event = "recover table"
	AlterTTLInfo                  Event = "alter ttl info"
	AlterTTLRemove                Event = "alter ttl remove"
	MultiSchemaChange             Event = "multi schema change"
)

// class says which group words select an event.
type class uint8

const (
	classWord         class = iota // all, none, ... (not an event)
	classDML                       // selected by all dml
	classDDL                       // selected by all ddl
	classIncompatible              // selected by all ddl and incompatible ddl changes
)

// events maps every valid name to its class. The classes follow DM: every
// DDL event other than the compatible ones below is incompatible, except
// the finer TiCDC names dmnode produces as additional names, which are
// compatible, so that "incompatible ddl changes" selects what it selects
// in DM.
var events = map[Event]class{
	All: classWord, AllDML: classWord, AllDDL: classWord, None: classWord, NoneDML: classWord,
	NoneDDL: classWord, IncompatibleDDLChanges: classWord,

	Insert: classDML, Update: classDML, Delete: classDML,

	CreateDatabase: classDDL, AlterDatabase: classDDL, CreateTable: classDDL, CreateIndex: classDDL,
	CreateView: classDDL, DropView: classDDL, AlterTable: classDDL, AddTablePartition: classDDL,
	AddColumn: classDDL, AddPrimaryKey: classDDL, SetDefaultValue: classDDL, ModifyTableComment: classDDL,
	RebaseAutoID: classDDL, AlterIndexVisibility: classDDL, AlterTablePartitioning: classDDL,
	RemovePartitioning: classDDL, ModifySchemaCharsetAndCollate: classDDL,
	ModifyTableCharsetAndCollate: classDDL,

	DropDatabase: classIncompatible, DropTable: classIncompatible, TruncateTable: classIncompatible,
	RenameTable: classIncompatible, DropIndex: classIncompatible, DropTablePartition: classIncompatible,
	TruncateTablePartition: classIncompatible, AddForeignKey: classIncompatible,
	DropForeignKey: classIncompatible, ValueRangeDecrease: classIncompatible,
	PrecisionDecrease: classIncompatible, ModifyColumn: classIncompatible, RenameColumn: classIncompatible,
	RenameIndex: classIncompatible, DropColumn: classIncompatible, DropPrimaryKey: classIncompatible,
	DropUniqueKey: classIncompatible, ModifyDefaultValue: classIncompatible,
	ModifyConstraint: classIncompatible, ModifyColumnsOrder: classIncompatible,
	ModifyCharset: classIncompatible, ModifyCollation: classIncompatible,
	RemoveAutoIncrement: classIncompatible, ModifyStorageEngine: classIncompatible,
	ReorganizePartition: classIncompatible, RebuildPartition: classIncompatible,
	CoalescePartition: classIncompatible, SplitPartition: classIncompatible,
	ExchangePartition: classIncompatible, RecoverTable: classIncompatible, AlterTTLInfo: classIncompatible,
	AlterTTLRemove: classIncompatible, MultiSchemaChange: classIncompatible,
}

var aliases = map[Event]Event{
	"create schema": CreateDatabase,
	"drop schema":   DropDatabase,
	"alter schema":  AlterDatabase,
}

// ParseEvent checks an event name of a rule, without regard to case, and
// returns its canonical spelling.
func ParseEvent(name string) (Event, error) {
	e := Event(strings.ToLower(strings.TrimSpace(name)))
	if a, ok := aliases[e]; ok {
		return a, nil
	}
	if _, ok := events[e]; ok {
		return e, nil
	}
	if name == "" {
		return "", fmt.Errorf("empty event name")
	}
	return "", fmt.Errorf("unknown event %q", name)
}

// Note says why a valid event name never selects anything in dmnode, or
// returns "" when it can.
func Note(e Event) string {
	switch e {
	case CreateView, DropView:
		return "view statements are always skipped, as in DM"
	case RecoverTable, AlterTTLInfo, AlterTTLRemove, SplitPartition:
		return "it names a TiDB statement, which MySQL and MariaDB do not log"
	case MultiSchemaChange:
		return "dmnode classifies each part of an ALTER TABLE separately"
	}
	return ""
}

// Incompatible reports whether "incompatible ddl changes" selects e.
func Incompatible(e Event) bool { return events[e] == classIncompatible }

// isDDL reports whether e is a statement event.
func isDDL(e Event) bool {
	c := events[e]
	return c == classDDL || c == classIncompatible
}

// isDMLOnly reports whether e can only select row events.
func isDMLOnly(e Event) bool {
	switch e {
	case AllDML, None, NoneDML, NoneDDL:
		return true
	}
	return events[e] == classDML
}

// Names returns every valid event name (without the schema aliases),
// sorted.
func Names() []Event {
	names := make([]Event, 0, len(events))
	for e := range events {
		names = append(names, e)
	}
	slices.Sort(names)
	return names
}
