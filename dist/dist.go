// Package dist is shmkit beyond one machine, on NATS JetStream: Connect joins a NATS server —
// the embedded one of package dist/server on one machine, a real deployment across machines —
// and on it run a distributed Queue, a distributed Dict and a distributed Pool with the local
// pool's calls (Map, Imap, Apply, ... returning pool.AsyncResult), whose workers anywhere run
// registered functions with Work.
//
// Every call that waits for the server has three forms, as in the other shmkit packages:
// the plain one waits as long as it takes (the connection reconnects by itself), XxxTimeout
// bounds it (Forever: no bound), XxxContext ends with its context. A bound that passes is an
// error matching ErrTimeout. See docs/dist.md.
package dist

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrAuth is returned by Connect when the server refuses the credentials.
	ErrAuth = errors.New("dist: authentication refused")
	// ErrNoServer is returned by Connect when no server answers at the addresses, and by a
	// call when no server answers the request (the connection is closed, or JetStream is not
	// running where it is connected).
	ErrNoServer = errors.New("dist: no NATS server reachable")
	// ErrRefused is returned when the server refuses a request: a stream or bucket name or a
	// configuration it does not accept, a limit reached. The server's own message follows.
	ErrRefused = errors.New("dist: refused by the server")
	// ErrBadArgs is returned for arguments refused before anything is sent: a name outside
	// [A-Za-z0-9_-], a value the codec cannot encode, a negative option.
	ErrBadArgs = errors.New("dist: bad arguments")
	// ErrCorrupt is returned when a message from the server or from a peer does not decode
	// (a value stored by a program of another type, a message not made by shmkit). It matches
	// shm.ErrCorrupt, as every shmkit corruption error does.
	ErrCorrupt = fmt.Errorf("dist: undecodable message: %w", shm.ErrCorrupt)
	// ErrNotFound is returned by Dict.Get for a key the Dict does not hold.
	ErrNotFound = errors.New("dist: key not found")

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

// A Conn is a connection to a NATS server or cluster. It reconnects by itself, to any member
// of the cluster, when the server it is on goes away; calls made meanwhile wait within their
// bounds.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Connect connects to the first of urls that answers, in order ("nats://host:4222"; several,
// for the members of a cluster). Refused credentials are ErrAuth; no server answering within
// Options.Timeout is ErrNoServer.
func Connect(urls []string, o Options) (*Conn, error) {
	return ConnectContext(context.Background(), urls, o)
}

// ConnectContext is Connect, abandoned when ctx ends first (its error is then ctx's).
func ConnectContext(ctx context.Context, urls []string, o Options) (*Conn, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no URL given", ErrBadArgs)
	}
	t := o.Timeout
	if t == 0 {
		t = 5 * time.Second
	}
	if t < 0 {
		return nil, fmt.Errorf("%w: Options.Timeout %v", ErrBadArgs, t)
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < t {
		t = max(time.Until(d), time.Millisecond)
	}
	opts := []nats.Option{nats.Timeout(t), nats.Name("shmkit"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond), nats.DontRandomize()}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	type res struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		nc, err := nats.Connect(strings.Join(urls, ","), opts...)
		ch <- res{nc, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() { // the attempt ends within t: close what it made
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("dist: Connect to %v: %w", urls, ctx.Err())
	}
	switch {
	case r.err == nil:
		js, err := jetstream.New(r.nc)
		if err != nil {
			r.nc.Close()
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return &Conn{nc: r.nc, js: js}, nil
	case errors.Is(r.err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(r.err.Error()), "authorization"):
		return nil, fmt.Errorf("%w by %v: %v", ErrAuth, urls, r.err)
	default:
		return nil, fmt.Errorf("%w at %v: %v", ErrNoServer, urls, r.err)
	}
}

// ConnectedURL is the address of the server this connection is on ("" while it reconnects).
func (c *Conn) ConnectedURL() string { return c.nc.ConnectedUrl() }

// Close closes this connection; the server and other connections go on.
func (c *Conn) Close() { c.nc.Close() }

// forever is the deadline given to a request that has no bound: jetstream would otherwise put
// its own 5 s default on it.
const forever = 100 * 365 * 24 * time.Hour

// bound returns the context of a call given its context and timeout (Forever: none but ctx's).
// A context without a deadline gets a far one, so that no library default bounds it.
func bound(ctx context.Context, op string, timeout time.Duration) (context.Context, context.CancelFunc, error) {
	if err := deadline.Check(op, timeout); err != nil {
		return nil, nil, err
	}
	if timeout == Forever {
		if _, ok := ctx.Deadline(); ok {
			c, cancel := context.WithCancel(ctx)
			return c, cancel, nil
		}
		c, cancel := context.WithTimeout(ctx, forever)
		return c, cancel, nil
	}
	c, cancel := context.WithTimeout(ctx, timeout)
	return c, cancel, nil
}

// classify turns the error of a server request made under ctx into this package's: a bound
// that passed is ErrTimeout (naming op and timeout), a cancelled context its own error, no
// responder ErrNoServer, and the rest ErrRefused.
func classify(ctx context.Context, op string, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrBadArgs) { // ours, already saying what is wrong
		return fmt.Errorf("%s: %w", op, err)
	}
	if ce := ctx.Err(); ce != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		if errors.Is(ce, context.Canceled) {
			return fmt.Errorf("%s: %w", op, ce)
		}
		return fmt.Errorf("%w: %v", deadline.Timeout(op, timeout), err)
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrServerShutdown):
		return fmt.Errorf("%w: %s: %v", ErrNoServer, op, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrRefused, op, err)
}

// closed returns the error of a call on a closed connection, or nil.
func (c *Conn) closed(op string) error {
	if c.nc.IsClosed() {
		return fmt.Errorf("%w: %s: the connection is closed", ErrNoServer, op)
	}
	return nil
}

// transient reports whether err is the server going away, which the connection's
// reconnection mends: a wait without a bound tries again.
func transient(err error) bool {
	return errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrNoResponders)
}

// checkName refuses a stream, bucket or pool name that NATS would not take in a subject.
func checkName(what, name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: %s name %q: 1 to 64 characters of [A-Za-z0-9_-]", ErrBadArgs, what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %s name %q: %q is not in [A-Za-z0-9_-]", ErrBadArgs, what, name, r)
		}
	}
	return nil
}

// newID returns a random identifier for a submitter.
func newID() string { return rand.Text()[:16] }
