// Package dist is shmkit beyond one machine, on NATS JetStream: Connect joins a NATS server —
// the embedded one of package dist/server on one machine, a real deployment across machines.
//
// Built so far (issue 14): connection and authentication, a distributed Queue and a
// distributed Dict. The Pool is not built yet (see docs/dist.md).
package dist

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shmkit/shmkit/internal/deadline"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrAuth is matched by the error of Connect when the server refuses the credentials.
	ErrAuth = errors.New("dist: authentication refused")
	// ErrNoServer is matched by the error of Connect when no server answers at the addresses.
	ErrNoServer = errors.New("dist: no NATS server reachable")

	// ErrTimeout is matched by the error of a wait that ran out of time: the one value of every
	// shmkit package.
	ErrTimeout = deadline.ErrTimeout
	// ErrBadTimeout is returned for a negative timeout other than Forever.
	ErrBadTimeout = deadline.ErrBadTimeout
)

// Forever, passed as a timeout, waits without a time bound.
const Forever = deadline.Forever

// Options are the credentials and bounds of Connect.
type Options struct {
	// Token, or User and Password: as the server was given them.
	Token          string
	User, Password string
	// Timeout bounds the connection attempt (each address tried within it); 0 is 5 s.
	Timeout time.Duration
}

// A Conn is a connection to a NATS server or cluster.
type Conn struct {
	nc *nats.Conn
}

// Connect connects to the first of urls that answers ("nats://host:4222"; several, for the
// members of a cluster). Refused credentials are ErrAuth; no server answering is ErrNoServer.
func Connect(urls []string, o Options) (*Conn, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no URL given", ErrNoServer)
	}
	t := o.Timeout
	if t == 0 {
		t = 5 * time.Second
	}
	if err := deadline.Check("dist: Connect", t); err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Timeout(t), nats.Name("shmkit"), nats.MaxReconnects(-1)}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	switch {
	case err == nil:
		return &Conn{nc: nc}, nil
	case errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization"):
		return nil, fmt.Errorf("%w by %v: %v", ErrAuth, urls, err)
	default:
		return nil, fmt.Errorf("%w at %v: %v", ErrNoServer, urls, err)
	}
}

// ConnectedURL is the address of the server this connection is on.
func (c *Conn) ConnectedURL() string { return c.nc.ConnectedUrl() }

// Close closes this connection; the server and other connections go on.
func (c *Conn) Close() { c.nc.Close() }
