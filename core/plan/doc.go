// Package plan compiles a task of the catalog once per version and shares
// the result.
//
// A task file is stored in the catalog as text (catalog.Task.File and
// YAML). Many parts of a node read it: the task's status (its notes), the
// placement (which sources have a validator), the actors of every source
// (the instance's settings and the compiled rules), the relay's retention
// (the target), verification and the HTTP API. Decoding the file
// (config.DecodeTask) and compiling its rules (rules.Compile) at each of
// those places costs a full parse of the YAML and of every rule's
// patterns and expressions, again and again for the same text.
//
// A Plan is one version of a task decoded: the *config.Task, and for each
// of its sources, on first use, a Source with the instance, the decoded
// source file and the compiled *rules.Rules. A version is the task's file
// name and text; a source's part is compiled again only when the source's
// own file in the catalog changes. Everything a Plan hands out is
// immutable and safe for concurrent readers: callers must not modify the
// *config.Task, *config.Instance or *config.Source they get.
//
// Of (the process's Cache) returns the Plan of a catalog task: the same
// pointer for the same version, a new Plan once the task is updated. The
// cache keeps the two newest versions of each task (a node that lags one
// update behind another in the same process does not make them rebuild in
// turn) and a bounded number of tasks; a decoding error is returned but
// not kept, so a file that fails to decode (for instance before the
// cluster keys that open its passwords are known) is decoded again on the
// next call.
//
// Decode builds a Plan from a file a user has just submitted, without the
// cache: the catalog stores that file with its passwords sealed, which is
// another version.
//
// The package lives beside config and rules, not in them: it joins the two
// with the catalog's records, which neither of them knows. Decodes counts
// the task files decoded, so tests can show that a version is decoded once.
package plan
