//go:build linux

package proc_test

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

var tallyKind = shm.RegisterKind("example.tally", func(r shm.Ref) (any, error) { return r, nil })

// Targets are registered at package level, so that the re-executed child has them too.
var _ = proc.Register(addTo)

func addTo(tally shm.Ref, n int) error {
	_, b, err := shm.Resolve(tally, tallyKind) // the parent's memory, inherited
	if err != nil {
		return err
	}
	atomic.AddUint64(shm.Word64(b, 0), uint64(n))
	return nil
}

// Start children that add into shared memory, join them, read the sum. A program's main (and a
// test binary's TestMain) must call proc.Main() first.
func Example() {
	tally, _ := shm.Alloc(8, tallyKind) // the default heap: every child inherits it
	defer shm.Free(tally)
	var ps []*proc.Process
	for i := 1; i <= 3; i++ {
		p := proc.New(addTo, tally, i*10)
		p.Name = fmt.Sprintf("adder-%d", i) // default: Process-N, numbered in start order
		if err := p.Start(); err != nil {
			panic(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		p.Join(proc.Forever)
		code, _ := p.ExitCode()
		fmt.Println(p.Name, "exit code", code)
	}
	_, b, _ := shm.Resolve(tally, tallyKind)
	fmt.Println("sum:", atomic.LoadUint64(shm.Word64(b, 0)))
	// Output:
	// adder-1 exit code 0
	// adder-2 exit code 0
	// adder-3 exit code 0
	// sum: 60
}
