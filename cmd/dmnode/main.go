// Command dmnode is the single dmnode binary: a node (dmnode start, or
// dmnode dev for a single node) and the client commands that talk to any
// node.
package main

import (
	"os"

	"github.com/dmnode/dmnode/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
