package dist_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
)

func TestQueuePutGetAckNak(t *testing.T) {
	s := serve(t)
	c, err := dist.Connect([]string{s.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := dist.NewQueue[string](c, "jobs", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b"} {
		if err := q.Put(v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := q.Get(5 * time.Second); err != nil || v != "a" {
		t.Fatalf("Get = %q, %v; want a", v, err)
	}
	task, err := q.Take(5 * time.Second)
	if err != nil || task.Value != "b" || task.Delivered != 1 {
		t.Fatalf("Take = %+v, %v; want b, delivered once", task, err)
	}
	if err := task.Nak(); err != nil {
		t.Fatal(err)
	}
	task, err = q.Take(5 * time.Second)
	if err != nil || task.Value != "b" || task.Delivered != 2 {
		t.Fatalf("Take after Nak = %+v, %v; want b, delivered twice", task, err)
	}
	if err := task.Ack(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(0); !errors.Is(err, dist.ErrTimeout) {
		t.Fatalf("Get(0) on an empty queue = %v, want ErrTimeout", err)
	}
}

// Values stored before a server restart on the same store directory are all there after it.
func TestQueueSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	s1, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dist.Connect([]string{s1.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		s1.Shutdown()
		t.Fatal(err)
	}
	q, err := dist.NewQueue[int](c, "restart", 0)
	if err == nil {
		for i := range 100 {
			if err = q.Put(i); err != nil {
				break
			}
		}
	}
	c.Close()
	s1.Shutdown()
	if err != nil {
		t.Fatal(err)
	}
	s2 := func() *server.Server {
		s, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	defer s2.Shutdown()
	c, err = dist.Connect([]string{s2.URL()}, dist.Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err = dist.NewQueue[int](c, "restart", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if v, err := q.Get(5 * time.Second); err != nil || v != i {
			t.Fatalf("Get %d after the restart = %d, %v", i, v, err)
		}
	}
	if _, err := q.Get(0); !errors.Is(err, dist.ErrTimeout) {
		t.Fatalf("Get(0) after the 100 = %v, want ErrTimeout", err)
	}
}
