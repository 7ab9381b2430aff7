package dist_test

import (
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
