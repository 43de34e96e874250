// Command dmnode is the single dmnode binary: a node (dev) and the client
// commands that talk to any node.
package main

import (
	"os"

	"github.com/dmnode/dmnode/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
