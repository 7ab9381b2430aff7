package dist_test

import (
	"testing"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/proc"
)

var _ = proc.Register(addInChild)

// addInChild, in a child process, increments the key "n" of the dict "procs" n times.
func addInChild(url string, n int) error {
	c, err := dist.Connect([]string{url}, dist.Options{Token: "s3cret"})
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := dist.NewDict[int](c, "procs")
	if err != nil {
		return err
	}
	for range n {
		if _, err := d.Update("n", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
			return err
		}
	}
	return nil
}

// Two processes increment one key concurrently through Update: the count ends exact.
func TestDictUpdateFromTwoProcesses(t *testing.T) {
	s := serve(t)
	const each = 150
	var kids []*proc.Process
	for range 2 {
		p, err := proc.Start(addInChild, s.URL(), each)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, p)
	}
	for _, p := range kids {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := newDict(t, s, "procs").Get("n"); err != nil || v != 2*each {
		t.Fatalf("after 2x%d updates from two processes, n = %d, %v", each, v, err)
	}
}
