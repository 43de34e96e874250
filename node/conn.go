package node

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ConnOptions are the NATS connection settings of a client (the CLI) or of
// a node on an external NATS cluster (--nats-url), as the NATS CLI names
// them: a credentials file (a NATS .creds file with a user JWT, or an nkey
// seed file such as the admin.nk and viewer.nk a cluster generates), an
// nkey seed file, a user and password, and TLS.
type ConnOptions struct {
	Creds    string
	NKey     string
	User     string
	Password string
	TLS      TLSFiles
}

// natsOptions returns the nats.go options for the settings, and the
// reply-subject prefix the identity uses (its own inbox, see Inbox).
func (o ConnOptions) natsOptions() ([]nats.Option, error) {
	var opts []nats.Option
	seedFile := o.NKey
	if o.Creds != "" {
		b, err := os.ReadFile(o.Creds)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		if strings.Contains(string(b), "BEGIN NATS USER JWT") {
			opts = append(opts, nats.UserCredentials(o.Creds))
			if kp, err := nkeys.ParseDecoratedNKey(b); err == nil {
				if pub, err := kp.PublicKey(); err == nil {
					opts = append(opts, nats.CustomInboxPrefix(Inbox(pub)))
				}
			}
		} else if seedFile == "" {
			seedFile = o.Creds
		} else {
			return nil, errors.New("give a credentials file or an nkey seed, not both")
		}
	}
	if seedFile != "" {
		b, err := os.ReadFile(seedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey: %w", err)
		}
		kp, err := nkeys.ParseDecoratedNKey(b)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: not an nkey seed or credentials file: %w", seedFile, err)
		}
		pub, _ := kp.PublicKey()
		kp.Wipe()
		opt, err := nats.NkeyOptionFromSeed(seedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: %w", seedFile, err)
		}
		opts = append(opts, opt, nats.CustomInboxPrefix(Inbox(pub)))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if !o.TLS.empty() {
		cfg, err := o.TLS.ClientConfig("NATS TLS")
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	return opts, nil
}

// nkeyOption authenticates with a seed held in memory.
func nkeyOption(seed string) (nats.Option, string, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, "", err
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign), pub, nil
}

var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s,]*:)[^@\s,/]*@`)

// RedactURL hides the passwords of the URLs in s (a URL, a comma-separated
// list of them, or a message quoting them): nats://u:secret@h becomes
// nats://u:xxxxx@h. A URL with a user alone (a token) keeps nothing either.
func RedactURL(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	for _, part := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.User == nil {
			continue
		}
		if _, hasPW := u.User.Password(); !hasPW && u.User.Username() != "" {
			s = strings.Replace(s, u.User.Username()+"@", "xxxxx@", 1)
		}
	}
	return s
}
