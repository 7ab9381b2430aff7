//go:build linux

package proc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

var tallyKind = shm.RegisterKind("example.tally", func(r shm.Ref) (any, error) { return r, nil })

// Targets are registered at package level, so that the re-executed child has them too.
var (
	_ = proc.Register(addTo)
	_ = proc.Register(&upper{})
	_ = proc.Register(failWith)
	_ = proc.Register(nap)
)

func addTo(tally shm.Ref, n int) error {
	_, b, err := shm.Resolve(tally, tallyKind) // the parent's memory, inherited
	if err != nil {
		return err
	}
	atomic.AddUint64(shm.Word64(b, 0), uint64(n))
	return nil
}

// Start children that add into shared memory, wait for them, read the sum. A program's main
// (and a test binary's TestMain) must call proc.Main() first, and should end with
// proc.Shutdown, so that no child outlives it:
//
//	func main() {
//		proc.Main()
//		defer func() {
//			if err := proc.Shutdown(10 * time.Second); err != nil {
//				log.Print(err)
//			}
//		}()
//		...
//	}
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
		if err := p.Wait(); err != nil { // nil: the target returned nil
			panic(err)
		}
		fmt.Println(p.Name, "done")
	}
	_, b, _ := shm.Resolve(tally, tallyKind)
	fmt.Println("sum:", atomic.LoadUint64(shm.Word64(b, 0)))
	// Output:
	// adder-1 done
	// adder-2 done
	// adder-3 done
	// sum: 60
}

// upper is a Process "subclass": its fields are sent to the child, shared objects (here the
// ends of two pipes) as themselves, and its Run method is the child's body.
type upper struct {
	In  *ring.Conn // the child receives on it
	Out *ring.Conn // the child sends on it
}

func (u *upper) Run() error {
	msg, err := u.In.Recv()
	if err != nil {
		return err
	}
	return u.Out.Send(bytes.ToUpper(msg))
}

// A type with a Run method is a target, as a Python Process subclass with run(): a shared object
// in its fields (a queue, an event, a pipe end) works in the child as here.
func Example_runType() {
	childIn, toChild, _ := ring.Pipe(false, nil) // one-way: the first end receives
	fromChild, childOut, _ := ring.Pipe(false, nil)
	defer func() {
		for _, c := range []*ring.Conn{childIn, toChild, fromChild, childOut} {
			c.Free()
		}
	}()
	p, err := proc.Start(&upper{In: childIn, Out: childOut})
	if err != nil {
		panic(err)
	}
	toChild.Send([]byte("hello from the parent"))
	msg, _ := fromChild.Recv()
	fmt.Println(string(msg))
	fmt.Println("wait:", p.Wait())
	// Output:
	// HELLO FROM THE PARENT
	// wait: <nil>
}

func failWith(msg string) error { return errors.New(msg) }

// Wait returns an *ExitError for a child that did not end well, as exec.Cmd.Wait does: a target
// that returned an error exits with ExitCodeError, one that panicked with ExitCodePanic. With a
// Stderr writer set, the error carries the end of what the child wrote there.
func ExampleProcess_Wait() {
	var stderr bytes.Buffer
	p := proc.New(failWith, "no input")
	p.Stderr = &stderr
	if err := p.Start(); err != nil {
		panic(err)
	}
	err := p.Wait()
	var ee *proc.ExitError
	if errors.As(err, &ee) {
		fmt.Println("exit code:", ee.Code, ee.Code == proc.ExitCodeError)
		fmt.Println("stderr has the error:", strings.Contains(ee.Stderr, "no input"))
	}
	// Output:
	// exit code: 1 true
	// stderr has the error: true
}

func nap(d time.Duration) { time.Sleep(d) }

// Terminate sends SIGTERM (Kill sends SIGKILL); ExitCode then reports the negative signal number,
// as Python's exitcode does, and Wait an ExitError with the signal.
func ExampleProcess_Terminate() {
	p, err := proc.Start(nap, time.Hour)
	if err != nil {
		panic(err)
	}
	p.Terminate()
	err = p.Wait()
	var ee *proc.ExitError
	if errors.As(err, &ee) {
		fmt.Println("killed by:", ee.Signal == syscall.SIGTERM)
	}
	code, _ := p.ExitCode()
	fmt.Println("exit code:", code)
	// Output:
	// killed by: true
	// exit code: -15
}

// A daemon child ends with its parent, however the parent ends, and may not start children of its
// own. Shutdown, at the end of main, terminates daemons at once and waits (here at most a
// minute) for the other children.
func ExampleProcess_daemon() {
	d := proc.New(nap, time.Hour)
	d.Daemon = true
	d.Name = "background"
	if err := d.Start(); err != nil {
		panic(err)
	}
	w, err := proc.Start(nap, time.Millisecond)
	if err != nil {
		panic(err)
	}
	if err := proc.Shutdown(time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	code, _ := d.ExitCode()
	fmt.Println("daemon exit code:", code)
	fmt.Println("worker:", w.Wait())
	// Output:
	// daemon exit code: -15
	// worker: <nil>
}

// Shutdown, with a bound, ends the children still running when it runs out, and names them.
func ExampleShutdown() {
	p := proc.New(nap, time.Hour)
	p.Name = "forgotten"
	if err := p.Start(); err != nil {
		panic(err)
	}
	err := proc.Shutdown(10 * time.Millisecond)
	fmt.Println(errors.Is(err, proc.ErrLeftRunning), strings.Contains(err.Error(), "forgotten (pid"))
	code, _ := p.ExitCode()
	fmt.Println("exit code:", code)
	// Output:
	// true true
	// exit code: -15
}

// WaitContext waits until the child ends or the context is done; WaitTimeout takes a duration
// instead. Neither ends the child: that is Terminate's or Kill's job.
func ExampleProcess_WaitContext() {
	p, err := proc.Start(nap, time.Hour)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = p.WaitContext(ctx)
	fmt.Println("still running:", errors.Is(err, context.DeadlineExceeded), p.IsAlive())
	p.Kill()
	var ee *proc.ExitError
	fmt.Println("killed:", errors.As(p.Wait(), &ee) && ee.Signal == syscall.SIGKILL)
	// Output:
	// still running: true true
	// killed: true
}

// A warm spare: with it on, a child is started ahead and waits for its target, so that the next
// Start skips the runtime's start-up (Python's forkserver idea). Switch it off when done: the
// spare is killed and reaped.
func ExampleSetWarmSpare() {
	tally, _ := shm.Alloc(8, tallyKind)
	defer shm.Free(tally)
	if err := proc.SetWarmSpare(true); err != nil {
		fmt.Println(err)
		return
	}
	defer proc.SetWarmSpare(false)
	for i := 1; i <= 3; i++ {
		p, err := proc.Start(addTo, tally, i) // runs in the spare; a new one starts behind it
		if err != nil {
			fmt.Println(err)
			return
		}
		p.Join(proc.Forever)
	}
	_, b, _ := shm.Resolve(tally, tallyKind)
	fmt.Println("sum:", atomic.LoadUint64(shm.Word64(b, 0)))
	// Output: sum: 6
}
