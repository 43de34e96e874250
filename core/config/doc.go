// Package config decodes and validates TiDB DM task files (task.yaml) and
// source files (source.yaml), so that a DM user's files work with dmnode
// unchanged.
//
// Decoding is strict and exhaustive. The file is parsed into a YAML syntax
// tree first; every key is checked against the keys DM defines, with its line
// and column kept, and then the tree is decoded into Task or Source. One call
// reports every finding at once, each an *Error printed as
//
//	task.yaml:12:3: mysql-instances[0].route-rulez: unknown key (did you mean route-rules?)
//
// and joined with errors.Join, so an operator fixes a file in one pass.
//
// DM keys fall into three groups:
//
//   - supported keys are decoded and validated with DM's semantics (required
//     keys, rule references, unused rules, route extractors, column mapping
//     arguments, block/allow list entries, shard mode, binlog event filter
//     events and sql-patterns, expression filter expressions, online DDL
//     rules);
//   - keys that ask for a feature dmnode does not implement yet are errors
//     "not supported yet", or run with dmnode's nearest behaviour and a
//     note (physical import, ...), unless
//     their value is empty or false and so asks for nothing;
//   - keys that are accepted but have no effect in dmnode (deprecated DM keys,
//     dump-file and relay-directory settings, ...) add a line to the
//     Warnings of the result that says why, so nothing is ignored silently.
//
// Decode fills the effective per-instance settings (Instance.Dump, Load,
// Sync, Validate) from the named or inline unit configurations, the *-thread
// overrides and DM's defaults, and DM's online DDL defaults (online-ddl
// true, gh-ost and pt-osc table rules).
//
// Expressions of expression-filter are parsed and checked here, with
// package exprfilter, so that an unsupported function is reported with the
// file position before the task runs; event names are checked with package
// filter.
//
// The package is pure: apart from LoadTask and LoadSource, which read a file
// or standard input, there is no I/O. No message quotes a password.
package config
