// Package server embeds a NATS server with JetStream for package dist: the default on one
// machine. It is a package of its own so that programs that only connect (dist.Connect) do not
// carry the server's code.
//
// A token or a user/password crosses the wire in clear: on one machine (a loopback address) that
// is enough; between machines, run a real NATS deployment with TLS and NKeys or JWT accounts
// (see docs/dist.md) and give its URLs to dist.Connect.
package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrStart is matched by the error of Serve when the server cannot start or is not ready in time.
var ErrStart = errors.New("dist/server: cannot start the embedded NATS server")

// Options configure Serve.
type Options struct {
	// Host is the address to listen on; "" is 127.0.0.1 (loopback only).
	Host string
	// Port is the client port; 0 picks a free one (see Server.URL).
	Port int
	// StoreDir is where JetStream keeps its streams; required, so that what is queued survives
	// a restart of the server on the same directory.
	StoreDir string
	// Token, or User and Password, is what clients must present. At least one is required.
	Token          string
	User, Password string
	// ReadyTimeout bounds the wait for the server to accept clients; 0 is 10 s.
	ReadyTimeout time.Duration
	// Name names this server in a cluster (unique per member); "" lets NATS pick one.
	Name string
	// Cluster, when not nil, makes this server a member of a NATS cluster: JetStream then
	// replicates streams with Replicas > 1 across members, and a client connected to any
	// member reaches them all. Routes carry no credentials here: listen for routes on a
	// private network (for a real deployment, see docs/dist.md).
	Cluster *Cluster
}

// Cluster is a server's membership in a cluster.
type Cluster struct {
	// Name is the cluster's name, the same on every member.
	Name string
	// Host and Port are where this member listens for the other members' routes ("" is
	// 127.0.0.1; Port is required, so that the others can be given it).
	Host string
	Port int
	// Routes are the other members' route URLs ("nats-route://127.0.0.1:6222").
	Routes []string
}

// A Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Serve starts an embedded NATS server with JetStream, its signal handlers off (the program's
// own signals stay the program's), and returns when it accepts clients.
func Serve(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("%w: Options.StoreDir is required", ErrStart)
	}
	if o.Token == "" && o.User == "" {
		return nil, fmt.Errorf("%w: a Token or a User is required (no unauthenticated server)", ErrStart)
	}
	if o.Token != "" && o.User != "" {
		return nil, fmt.Errorf("%w: give a Token or a User, not both", ErrStart)
	}
	host, port := o.Host, o.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      o.StoreDir,
		Authorization: o.Token,
		Username:      o.User,
		Password:      o.Password,
		NoSigs:        true,
		NoLog:         true,
		HTTPPort:      0,
		ServerName:    o.Name,
	}
	if c := o.Cluster; c != nil {
		if c.Name == "" || c.Port <= 0 {
			return nil, fmt.Errorf("%w: Cluster needs a Name and a Port", ErrStart)
		}
		so.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		if so.Cluster.Host == "" {
			so.Cluster.Host = "127.0.0.1"
		}
		if len(c.Routes) > 0 {
			so.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
		}
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	go ns.Start()
	wait := o.ReadyTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("%w: not ready after %v on %s:%d", ErrStart, wait, host, o.Port)
	}
	return &Server{ns: ns}, nil
}

// URL is the address clients give to dist.Connect ("nats://127.0.0.1:4222").
func (s *Server) URL() string { return s.ns.ClientURL() }

// Shutdown stops the server for every client and waits until it has stopped; what JetStream
// stored stays in the store directory.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
