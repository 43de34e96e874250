// Package tests holds dmnode's end-to-end and fault tests: real MariaDB
// servers started on free loopback ports with throw-away data directories,
// and real dmnode processes. Every scenario ends by comparing the
// rule-transformed source rows with the target rows, row by row.
package tests
