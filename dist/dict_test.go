package dist_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/dist"
)

func TestDict(t *testing.T) {
	d := newDict(t, serve(t), "counts")
	key := "any key: é/*>. \x00" // outside NATS's key alphabet
	if _, err := d.Get(key); !errors.Is(err, dist.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want ErrNotFound", err)
	}
	if err := d.Set(key, 7); err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(key); err != nil || v != 7 {
		t.Fatalf("Get = %d, %v; want 7", v, err)
	}
	if err := d.Delete(key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(key); !errors.Is(err, dist.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
}

// Two connections increment one key concurrently: compare-and-set loses no increment.
// (TestDictUpdateFromTwoProcesses does it from two processes.)
func TestDictUpdateExact(t *testing.T) {
	s := serve(t)
	const each = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		d := newDict(t, s, "shared")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := d.Update("n", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, err := newDict(t, s, "shared").Get("n"); err != nil || v != 2*each {
		t.Fatalf("after %d updates, n = %d, %v", 2*each, v, err)
	}
}

func TestDictWatch(t *testing.T) {
	d := newDict(t, serve(t), "watched")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := d.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set("a b", 1); err != nil {
		t.Fatal(err)
	}
	if c := <-ch; c.Key != "a b" || c.Value != 1 || c.Deleted {
		t.Fatalf("first change = %+v, want a b set to 1", c)
	}
	if err := d.Delete("a b"); err != nil {
		t.Fatal(err)
	}
	if c := <-ch; c.Key != "a b" || !c.Deleted {
		t.Fatalf("second change = %+v, want a b deleted", c)
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}
