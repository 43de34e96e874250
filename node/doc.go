// Package node is one dmnode process: an embedded NATS server with
// JetStream, a Raft member whose FSM is the catalog (package core/catalog),
// the leader's scheduler that places actors, the host that runs the actors
// placed on this node, and the control API served over NATS request/reply.
//
// Control is level-triggered: the catalog holds the desired state and the
// assignment of every actor; each node reconciles what it runs against it.
// Nothing is started or stopped by a message that could be lost.
package node
