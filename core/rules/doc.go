// Package rules turns the rules of a TiDB DM task — block/allow list,
// binlog event filters, expression filters, online DDL table rules, routes
// with extracted columns, and column mappings — into immutable per-table
// plans.
//
// Compile validates the rules that one task applies to one of its sources and
// returns a Rules value. Rules answers the per-table questions, in the order
// the replication asks them:
//
//  1. is the table a ghost or trash table of an online schema change tool,
//     and for which real table (OnlineTable);
//  2. is the table migrated (Allowed, AllowedSchema);
//  3. does the binlog event filter let a row change or DDL statement
//     through (FilterDML, FilterDDL, FilterDDLWith);
//  4. where does the table go (Route), and how is each of its rows
//     transformed (Plan), including which row changes its expression
//     filters drop (TablePlan.DropRow, binlog only).
//
// A TablePlan is built once per upstream table and schema version; its Apply
// and DropRow methods only execute the plan. CheckCollisions looks at the
// plans of a whole task and reports merged tables whose partition ids would
// overlap, before any data moves. docs/rules.md gives the semantics of every
// rule and how they differ from DM.
//
// Everything here is pure: no I/O, no clock, no global state. Rules and
// TablePlan values are immutable once built and safe for concurrent use.
//
// Patterns (route, column mapping, block/allow list, event filter) are
// those of package pattern: wildcards matched against the whole name, or Go
// regular expressions when they start with `~`, matched anywhere in the
// name. They are case-insensitive unless the task sets case-sensitive (a
// source's own filters follow the source's case-sensitive). Extract and
// online DDL regexps are plain Go regular expressions applied as written.
// docs/column-mapping.md describes partition ids and extracted columns with
// worked examples.
package rules
