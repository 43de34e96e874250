// Package node is one dmnode process: an embedded NATS server with
// JetStream, a Raft member whose FSM is the catalog (package core/catalog),
// the leader's scheduler that places actors, the host that runs the actors
// placed on this node, and the control API served over NATS request/reply.
//
// Control is level-triggered: the catalog holds the desired state and the
// assignment of every actor; each node reconciles what it runs against it.
// Nothing is started or stopped by a message that could be lost.
//
// The scheduler runs only under a context of the node's leadership, which
// ends the moment it is lost (whileLeading), and stamps the assignments it
// writes with the leader's Raft term, so a deposed leader's decision never
// takes effect (core/catalog refuses it on every replica).
//
// Files: node.go (Open, Run, propose), raft.go and fsm.go (Raft, leadership,
// the catalog as FSM), readindex.go (reads that see the leader's commits),
// schedule.go (placement), host.go (the actors of this node), cluster.go
// (membership, heartbeats), api.go and the files of each area for the
// control API (check.go, lifecycle.go, status.go, shardddl.go, schemas.go,
// verify.go, cutover.go), client.go (the CLI's side), metrics.go and
// http.go (/metrics, /healthz), natsserver.go, secrets.go (cluster keys).
// docs/architecture.md shows how the parts fit.
package node
