package dist_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
)

// An embedded server on a free loopback port, and a client that connects with its token.
func Example() {
	dir, err := os.MkdirTemp("", "dist-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Shutdown()
	c, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected")
	// Output: connected
}

var _ = dist.Register(cube)

func cube(n int) (int, error) { return n * n * n, nil }

// A distributed pool on an embedded server, with the worker slots in this process: Map, as
// with pool.Map. Across machines, the workers are other programs calling dist.Work.
func ExampleMap() {
	dir, err := os.MkdirTemp("", "dist-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Shutdown()
	c, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	opts := &dist.PoolOptions{Name: "cubes"}

	ctx, stop := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- dist.Work(ctx, c, opts, 2) }()

	p, err := dist.NewPool(c, opts)
	if err != nil {
		log.Fatal(err)
	}
	got, err := dist.Map(p, cube, []int{1, 2, 3, 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got)
	p.Close()
	if err := p.Join(); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-worked; err != nil {
		log.Fatal(err)
	}
	// Output: [1 8 27 64]
}
