// Package rules turns the table rules of a TiDB DM task — block/allow list,
// routes with extracted columns, and column mappings — into immutable
// per-table plans.
//
// Compile validates the rules that one task applies to one of its sources and
// returns a Rules value. Rules answers the per-table questions: is the table
// migrated (Allowed, AllowedSchema), where does it go (Route), and how is each
// of its rows transformed (Plan). A TablePlan is built once per upstream table
// and schema version; its Apply method only executes the plan and allocates
// the output row. CheckCollisions looks at the plans of a whole task and
// reports merged tables whose partition ids would overlap, before any data
// moves.
//
// Everything here is pure: no I/O, no clock, no global state. Rules and
// TablePlan values are immutable once built and safe for concurrent use.
//
// Patterns (route, column mapping and block/allow list) are wildcards — `*`
// any run of characters, `?` one character, `[...]` a character class
// (`[!...]` or `[^...]` negated) — matched against the whole name, or Go
// regular expressions when they start with `~`, matched anywhere in the name
// as TiDB DM does. Both are case-insensitive unless the task sets
// case-sensitive. Extract regexps are plain Go regular expressions applied
// as written. docs/column-mapping.md describes partition ids and extracted
// columns with worked examples.
package rules
