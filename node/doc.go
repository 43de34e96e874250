// Package node is one dmnode process: an embedded NATS server with
// JetStream, a Raft member whose FSM is the catalog (package core/catalog),
// the leader's scheduler that places actors, the host that runs the actors
// placed on this node, and the control API served over NATS request/reply
// and HTTP.
//
// Control is level-triggered: the catalog holds the desired state and the
// assignment of every actor; each node reconciles what it runs against it.
// Nothing is started or stopped by a message that could be lost.
//
// Node is the composition root: it opens NATS, JetStream and Raft and
// wires four parts that do not hold it (Node.wire):
//   - control (control.go) is the service layer both APIs call: task,
//     source, validation, schema and shard DDL methods, cluster status. It
//     reads the catalog snapshot, proposes commands and asks the cluster
//     through small interfaces, which unit tests fake.
//   - scheduler (schedule.go) places actors. It runs only under a context
//     of the node's leadership, which ends the moment it is lost
//     (whileLeading), and stamps the assignments it writes with the
//     leader's Raft term, so a deposed leader's decision never takes
//     effect (core/catalog refuses it on every replica).
//   - host (host.go) supervises the actors placed on this node.
//   - membership (membership.go, cluster.go, readindex.go) holds the Raft
//     peers (join, remove, leave), the heartbeats that tell live members,
//     and the leader's read index.
//
// Files: node.go (Open, Run, wire, propose), raft.go and fsm.go (Raft,
// leadership, the catalog as FSM), api.go (the NATS API and the handler
// map) and the files of each area of control (check.go, lifecycle.go,
// status.go, shardddl.go, schemas.go, validation.go, verify.go,
// cutover.go), httpapi*.go (the HTTP API), health.go (NATS and JetStream
// health), natsjoin.go (founding or joining on an external NATS),
// client.go (the CLI's side), metrics.go and http.go (/metrics,
// /healthz), natsserver.go, secrets.go (cluster keys).
// docs/architecture.md shows how the parts fit.
package node
