package node

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// A cluster's credentials: NATS nkeys for its three roles, the password of
// its NATS route connections and the certificate authority of its internal
// mutual TLS (routes and Raft). Every member holds the same bundle, in
// DATA_DIR/secrets/cluster.auth (mode 0600); the first node generates it,
// a joining node is given a copy (--cluster-creds). The role seeds are also
// written on their own, as NATS nkey seed files for the CLI (--creds).
const (
	ClusterCredsFile = "secrets/cluster.auth"
	AdminCredsFile   = "secrets/admin.nk"
	ViewerCredsFile  = "secrets/viewer.nk"
)

// Roles of the credentials a cluster issues.
const (
	RoleNode   = "node"   // the nodes themselves: everything
	RoleAdmin  = "admin"  // the whole control API but joining
	RoleViewer = "viewer" // the control API's read methods
)

// ClusterCreds is the credential bundle of a cluster.
type ClusterCreds struct {
	NodeSeed      string `json:"node_seed"`
	AdminSeed     string `json:"admin_seed"`
	ViewerSeed    string `json:"viewer_seed"`
	RouteUser     string `json:"route_user"`
	RoutePassword string `json:"route_password"`
	// CACert and CAKey (PEM) sign each node's certificate for routes and
	// Raft when no --tls-cert is given.
	CACert string `json:"ca_cert"`
	CAKey  string `json:"ca_key"`
}

// NewClusterCreds generates a fresh bundle.
func NewClusterCreds() (*ClusterCreds, error) {
	c := &ClusterCreds{RouteUser: "dmnode-route"}
	for _, seed := range []*string{&c.NodeSeed, &c.AdminSeed, &c.ViewerSeed} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("generate nkey: %w", err)
		}
		s, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("generate nkey: %w", err)
		}
		*seed = string(s)
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("generate route password: %w", err)
	}
	c.RoutePassword = hex.EncodeToString(pw)
	cert, key, err := newClusterCA()
	if err != nil {
		return nil, err
	}
	c.CACert, c.CAKey = string(cert), string(key)
	return c, nil
}

// LoadClusterCreds reads a bundle file.
func LoadClusterCreds(path string) (*ClusterCreds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster credentials: %w", err)
	}
	var c ClusterCreds
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cluster credentials %s: not a dmnode credentials file: %w", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("cluster credentials %s: %w", path, err)
	}
	return &c, nil
}

func (c *ClusterCreds) check() error {
	for role, seed := range map[string]string{RoleNode: c.NodeSeed, RoleAdmin: c.AdminSeed, RoleViewer: c.ViewerSeed} {
		if _, err := nkeys.FromSeed([]byte(seed)); err != nil {
			return fmt.Errorf("%s seed: %w", role, err)
		}
	}
	if c.RouteUser == "" || c.RoutePassword == "" {
		return errors.New("no route user or password")
	}
	if blk, _ := pem.Decode([]byte(c.CACert)); blk == nil {
		return errors.New("no CA certificate")
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	return nil
}

// WriteClusterCreds writes the bundle to dir/cluster.auth and the admin and
// viewer seeds to dir/admin.nk and dir/viewer.nk, all mode 0600; it refuses
// to overwrite a bundle.
func WriteClusterCreds(dir string, c *ClusterCreds) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	path := filepath.Join(dir, filepath.Base(ClusterCredsFile))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write cluster credentials: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write cluster credentials %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write cluster credentials %s: %w", path, err)
	}
	for name, seed := range map[string]string{AdminCredsFile: c.AdminSeed, ViewerCredsFile: c.ViewerSeed} {
		p := filepath.Join(dir, filepath.Base(name))
		text := fmt.Sprintf("# dmnode %s credentials (a NATS nkey seed): dmnode --creds %s\n%s\n",
			roleOfFile(name), p, seed)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func roleOfFile(name string) string {
	if name == AdminCredsFile {
		return RoleAdmin
	}
	return RoleViewer
}

func publicKey(seed string) string {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return ""
	}
	pub, _ := kp.PublicKey()
	return pub
}

// Inbox returns the reply-subject prefix an identity may receive on: each
// identity sees only the answers to its own requests.
func Inbox(publicKey string) string { return "_INBOX." + publicKey }

// serverAuth requires the cluster's nkeys from every client and its route
// password from every route.
func (c *ClusterCreds) serverAuth(opts *server.Options) {
	for role, seed := range map[string]string{RoleNode: c.NodeSeed, RoleAdmin: c.AdminSeed, RoleViewer: c.ViewerSeed} {
		pub := publicKey(seed)
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub, Permissions: RolePermissions(role, pub)})
	}
	slices.SortFunc(opts.Nkeys, func(a, b *server.NkeyUser) int {
		if a.Nkey < b.Nkey {
			return -1
		}
		return 1
	})
	opts.Cluster.Username, opts.Cluster.Password = c.RouteUser, c.RoutePassword
}

// RolePermissions is every subject permission of a role, in one place: a
// viewer publishes only the control API's read methods, an admin the whole
// control API but cluster.join (which hands out the cluster keys), and
// each receives only on its own inbox; a node may do anything, and is the
// only identity that reaches JetStream ($JS.API, $KV: the relay, the
// snapshots, the checkpoints), heartbeats, propose and read-index. nil
// means no restriction.
func RolePermissions(role, publicKey string) *server.Permissions {
	if role == RoleNode {
		return nil
	}
	inbox := &server.SubjectPermission{Allow: []string{Inbox(publicKey) + ".>"}}
	var allow, deny []string
	switch role {
	case RoleAdmin:
		allow = []string{apiPrefix() + ">", nodeSubject("*") + ">"}
		deny = []string{apiPrefix() + "cluster.join", nodeSubject("*") + "cluster.join"}
	case RoleViewer:
		for _, m := range slices.Sorted(func(yield func(string) bool) {
			for m := range readMethods {
				if !yield(m) {
					return
				}
			}
		}) {
			allow = append(allow, apiPrefix()+m, nodeSubject("*")+m)
		}
	default:
		deny = []string{">"} // an unknown role may publish nothing
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow, Deny: deny},
		Subscribe: inbox,
	}
}

// openSecurity loads (or, on a founding node, generates) the cluster's
// credentials and sets up the mutual TLS between nodes. Dev mode and a
// node on an external NATS cluster have no cluster credentials: NATS's
// own settings (Config.NATS) apply there.
func (n *Node) openSecurity(joining, member, hasPeers bool) error {
	cfg := &n.cfg
	if err := cfg.TLS.check("TLS"); err != nil {
		return err
	}
	if cfg.Dev || cfg.NATSURL != "" {
		if cfg.ClusterCreds != "" {
			return errors.New("--cluster-creds applies to the embedded NATS servers of `dmnode start`, not to dev mode or --nats-url")
		}
		if !cfg.Dev && cfg.TLS.Cert != "" {
			var err error
			if n.peerTLS, err = peerConfig(cfg.TLS, nil, nil); err != nil {
				return err
			}
		} else if !cfg.Dev {
			n.log.Warn("with --nats-url and no --tls-cert, Raft runs over plain TCP: anyone who reaches the Raft port can talk to it; give every node --tls-cert, --tls-key and --tls-ca")
		}
		return nil
	}
	dir := filepath.Join(cfg.DataDir, filepath.Dir(ClusterCredsFile))
	path := filepath.Join(cfg.DataDir, ClusterCredsFile)
	stored, err := LoadClusterCreds(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	switch {
	case cfg.ClusterCreds != "":
		given, err := LoadClusterCreds(cfg.ClusterCreds)
		if err != nil {
			return err
		}
		if stored != nil && *stored != *given {
			if member {
				return fmt.Errorf("the credentials in %s are not the ones this member's data dir holds (%s): a member keeps its cluster's credentials; drop --cluster-creds", cfg.ClusterCreds, path)
			}
			// A join that failed with other credentials left them.
			for _, f := range []string{ClusterCredsFile, AdminCredsFile, ViewerCredsFile} {
				_ = os.Remove(filepath.Join(cfg.DataDir, f))
			}
			stored = nil
		}
		if stored == nil {
			if err := WriteClusterCreds(dir, given); err != nil {
				return err
			}
		}
		n.creds = given
	case stored != nil:
		n.creds = stored
	case joining:
		return fmt.Errorf("joining a cluster needs its credentials: copy %s from a member's data dir to this machine (keep it mode 0600) and pass it with --cluster-creds FILE (or DMNODE_CLUSTER_CREDS)", ClusterCredsFile)
	case member && hasPeers:
		return fmt.Errorf("data dir %s belongs to a member of a cluster but holds no cluster credentials (%s), as an older dmnode left it: "+
			"generate them once with `dmnode creds generate --out DIR`, then start every member with --cluster-creds DIR/cluster.auth", cfg.DataDir, ClusterCredsFile)
	default:
		c, err := NewClusterCreds()
		if err != nil {
			return err
		}
		if err := WriteClusterCreds(dir, c); err != nil {
			return err
		}
		n.creds = c
		n.log.Info("generated the cluster's credentials: clients need one of them, joining nodes the bundle",
			"admin", filepath.Join(cfg.DataDir, AdminCredsFile), "viewer", filepath.Join(cfg.DataDir, ViewerCredsFile),
			"bundle", path, "cli", "dmnode --creds "+filepath.Join(cfg.DataDir, AdminCredsFile)+" ...",
			"join", "dmnode cluster join PEER --cluster-creds "+path+" ...")
	}
	hosts := []string{cfg.advertise(), cfg.Host}
	var err2 error
	n.peerTLS, err2 = peerConfig(cfg.TLS, n.creds, hosts)
	return err2
}

// natsOptions are the node's own NATS connection settings: the node nkey
// and the TLS CA for the embedded servers, Config.NATS for an external one.
func (n *Node) natsOptions() ([]nats.Option, error) {
	if n.cfg.NATSURL != "" {
		return n.cfg.NATS.natsOptions()
	}
	var opts []nats.Option
	if n.creds != nil {
		opt, pub, err := nkeyOption(n.creds.NodeSeed)
		if err != nil {
			return nil, fmt.Errorf("cluster credentials: node seed: %w", err)
		}
		opts = append(opts, opt, nats.CustomInboxPrefix(Inbox(pub)))
	}
	if n.cfg.TLS.Cert != "" || n.cfg.TLS.CA != "" {
		cfg, err := TLSFiles{CA: n.cfg.TLS.CA}.ClientConfig("NATS TLS")
		if err != nil {
			return nil, err
		}
		if n.cfg.TLS.Cert != "" {
			// This node's server takes TLS only; so, likely, do its peers'.
			opts = append(opts, nats.Secure(cfg))
		} else {
			// Used when the server asks for TLS.
			opts = append(opts, func(o *nats.Options) error { o.TLSConfig = cfg; return nil })
		}
	}
	return opts, nil
}

// connectError explains the NATS connection errors a user can act on.
func connectError(err error) error {
	var cert *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.Is(err, nats.ErrAuthorization):
		return fmt.Errorf("%w: the server requires credentials and refused the ones given (none, or another cluster's): "+
			"give them with --creds FILE, DMNODE_CREDS or a context (see docs/security.md)", err)
	case errors.Is(err, nats.ErrSecureConnRequired), errors.As(err, &cert), errors.As(err, &unknown),
		strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "x509: "):
		return fmt.Errorf("%w: TLS: the server's certificate could not be checked or the server requires TLS; give the CA that signed it with --tls-ca (or DMNODE_TLS_CA)", err)
	}
	return err
}
