package dist_test

import (
	"errors"
	"net"
	"testing"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
	"github.com/shmkit/shmkit/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func serve(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.Serve(server.Options{StoreDir: t.TempDir(), Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func TestConnect(t *testing.T) {
	s := serve(t)
	c, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConnectedURL() == "" {
		t.Error("no connected URL")
	}
}

func TestBadCredentials(t *testing.T) {
	s := serve(t)
	_, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "wrong"})
	if !errors.Is(err, dist.ErrAuth) {
		t.Fatalf("Connect with a wrong token = %v, want ErrAuth", err)
	}
}

func TestNoServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a port nothing listens on
	_, err = dist.Connect([]string{"nats://" + addr}, dist.Options{Token: "x"})
	if !errors.Is(err, dist.ErrNoServer) {
		t.Fatalf("Connect to %s = %v, want ErrNoServer", addr, err)
	}
}

func TestServeNeedsAuth(t *testing.T) {
	if _, err := server.Serve(server.Options{StoreDir: t.TempDir()}); !errors.Is(err, server.ErrStart) {
		t.Fatalf("Serve without credentials = %v, want ErrStart", err)
	}
}

// connect connects to s with the test token and closes the connection at the test's end.
func connect(t testing.TB, s *server.Server) *dist.Conn {
	t.Helper()
	c, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newDict opens the dict name of type int on a new connection to s.
func newDict(t *testing.T, s *server.Server, name string) *dist.Dict[int] {
	t.Helper()
	d, err := dist.NewDict[int](connect(t, s), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
