package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/secret"
)

// ClusterKeysFile is where a node keeps the cluster keys, under its data
// dir (mode 0600): the keys that seal the source and target passwords the
// catalog stores. Every member holds the same keys; a joining node receives
// them from the cluster with its membership.
const ClusterKeysFile = "secrets/cluster.keys"

func clusterKeysPath(dataDir string) string { return filepath.Join(dataDir, ClusterKeysFile) }

// openClusterKeys loads the node's cluster keys. A node that founds a
// cluster (or the lone member of one from before the keys existed)
// generates them; a joining node gets them from the cluster
// (adoptClusterKeys) and has none until then. A member of a multi-node
// cluster without keys refuses to start: keys it made up alone would not
// open what the others seal.
func (n *Node) openClusterKeys(joining bool, peers []string) error {
	path := clusterKeysPath(n.cfg.DataDir)
	ring, err := secret.LoadRing(path)
	switch {
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return err
	case joining:
		return nil
	case len(peers) > 0:
		return fmt.Errorf("data dir %s belongs to a member of a cluster with other members but holds no cluster keys (%s), "+
			"as an older dmnode left it: on one stopped member run `dmnode keys rotate --data-dir DIR` (it creates the file), "+
			"copy the file to every member's data dir (mode 0600), then start the members", n.cfg.DataDir, ClusterKeysFile)
	default:
		if ring, _, err = secret.LoadOrCreateRing(path); err != nil {
			return err
		}
		n.log.Info("generated the cluster key that seals stored passwords; every member needs the same file", "file", path)
	}
	n.useClusterKeys(ring)
	return nil
}

// adoptClusterKeys stores the keys the cluster sent with a join, merged
// with any the node already had, and uses them.
func (n *Node) adoptClusterKeys(text string) error {
	if text == "" {
		return errors.New("join: the cluster sent no cluster keys (is it an older dmnode?)")
	}
	got, err := secret.ParseRing(text)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if n.ring != nil {
		got.Merge(n.ring)
	}
	if err := secret.WriteRing(clusterKeysPath(n.cfg.DataDir), got); err != nil {
		return err
	}
	n.useClusterKeys(got)
	return nil
}

func (n *Node) useClusterKeys(r *secret.Ring) {
	n.ring = r
	config.UseClusterKeys(r)
}

// sealFile returns a task or source file with its passwords sealed by the
// cluster key, as the catalog stores it.
func (n *Node) sealFile(f File) (string, error) {
	if n.ring == nil {
		return "", errors.New("this node holds no cluster key yet")
	}
	return config.SealPasswords(f.Name, f.Data, n.ring.Seal)
}

// clusterKeys is the text of the cluster keys, which a joining node
// receives.
func (n *Node) clusterKeys() string { return n.ring.String() }
