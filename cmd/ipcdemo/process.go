package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shmkit/shmkit/proc"
)

func init() {
	register(10, "process", "start, join, identity, daemons, terminate and kill, exit codes", runProcess)
}

// Child targets: registered at package level, so a re-executed child finds them.
var (
	_ = proc.Register(runProc)
	_ = proc.Register(&worker{})
	_ = proc.Register(setGlobal)
	_ = proc.Register(sleeper)
	_ = proc.Register(fails)
	_ = proc.Register(startDaemonAndExit)
	_ = proc.Register(daemonTriesChild)
)

// runProc is the tutorial's run_proc(name).
func runProc(name string) {
	parent, _ := proc.Parent()
	fmt.Printf("  child: run child process %s (%d), parent %d\n", name, os.Getpid(), parent.Pid)
}

// worker is the tutorial's Process subclass: its Run method is the child's body.
type worker struct{ ID int }

func (w *worker) Run() {
	fmt.Printf("  %s (pid %d) runs worker %d\n", proc.Current().Name, os.Getpid(), w.ID)
}

// global shows that a child has its own copy of the program's memory.
var global = 100

func setGlobal() {
	global = 200
	fmt.Printf("  child: set x = %d\n", global)
}

func sleeper(d time.Duration) { time.Sleep(d) }

func fails() error { return errors.New("something went wrong in the child") }

// startDaemonAndExit starts a daemon child, prints its pid, and returns: the daemon must end
// with it.
func startDaemonAndExit() error {
	d := proc.New(sleeper, time.Hour)
	d.Daemon = true
	d.Name = "the-daemon"
	if err := d.Start(); err != nil {
		return err
	}
	fmt.Printf("%d\n", d.Pid())
	return nil
}

func daemonTriesChild() {
	_, err := proc.Start(runProc, "grandchild")
	fmt.Printf("  daemon: starting a child fails: %v (is ErrDaemonic: %v)\n", err, errors.Is(err, proc.ErrDaemonic))
}

func runProcess() error {
	fmt.Printf("Parent process %d (%s), %d CPUs.\n", os.Getpid(), proc.Current().Name, proc.CPUCount())
	p := proc.New(runProc, "test")
	fmt.Println("Child process will start.")
	if err := p.Start(); err != nil {
		return err
	}
	if err := p.WaitTimeout(10 * time.Second); err != nil { // nil: the target returned nil
		return err
	}
	code, _ := p.ExitCode()
	fmt.Printf("Child process end: %s pid=%d exitcode=%d\n\n", p.Name, p.Pid(), code)

	fmt.Println("Three Process \"subclasses\" (a type with a Run method):")
	var ws []*proc.Process
	for i := range 3 {
		w := proc.New(&worker{ID: i})
		if err := w.Start(); err != nil {
			return err
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		if err := w.Wait(); err != nil {
			return err
		}
	}
	fmt.Println("  all three joined")
	fmt.Println()

	fmt.Println("A global changed in the child is not changed in the parent:")
	if err := mustStart(setGlobal).Wait(); err != nil {
		return err
	}
	fmt.Printf("  parent: x = %d\n\n", global)

	fmt.Println("join(timeout), is_alive, terminate, kill, exitcode:")
	s := mustStart(sleeper, time.Hour)
	err := s.Join(50 * time.Millisecond)
	fmt.Printf("  join(50ms) on a sleeping child: %v; is_alive=%v\n", err, s.IsAlive())
	s.Terminate()
	s.Join(10 * time.Second)
	code, _ = s.ExitCode()
	fmt.Printf("  after terminate(): is_alive=%v exitcode=%d (-SIGTERM)\n", s.IsAlive(), code)
	k := mustStart(sleeper, time.Hour)
	k.Kill()
	k.Join(10 * time.Second)
	code, _ = k.ExitCode()
	fmt.Printf("  after kill(): exitcode=%d (-SIGKILL)\n", code)
	var stderr bytes.Buffer
	f := proc.New(fails)
	f.Stderr = &stderr
	if err := f.Start(); err != nil {
		return err
	}
	var ee *proc.ExitError
	if err := f.WaitTimeout(10 * time.Second); !errors.As(err, &ee) {
		return fmt.Errorf("a failing child: Wait returned %v, want an *ExitError", err)
	}
	fmt.Printf("  a target returning an error: exitcode=%d (proc.ExitCodeError), Wait's error ends with its stderr %q\n\n",
		ee.Code, strings.TrimSpace(ee.Stderr))

	fmt.Println("Daemons:")
	dd := proc.New(daemonTriesChild)
	dd.Daemon = true
	if err := startIt(dd).Wait(); err != nil {
		return err
	}
	var out bytes.Buffer
	mid := proc.New(startDaemonAndExit)
	mid.Stdout = &out
	if err := startIt(mid).Wait(); err != nil {
		return err
	}
	dpid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		return fmt.Errorf("daemon pid: %q: %v", out.String(), err)
	}
	start := time.Now()
	for running(dpid) && time.Since(start) < 5*time.Second {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("  a daemon (pid %d) whose parent exited is gone after %v: %v\n\n", dpid, time.Since(start).Round(100*time.Microsecond), !running(dpid))

	fmt.Println("Four children sleeping 100-400 ms, started in a loop and joined:")
	start = time.Now()
	var ps []*proc.Process
	for i := 1; i <= 4; i++ {
		ps = append(ps, mustStart(sleeper, time.Duration(i)*100*time.Millisecond))
	}
	for _, p := range ps {
		if err := p.Wait(); err != nil {
			return err
		}
	}
	fmt.Printf("  total %v: about the longest child (400ms), not the sum (1s)\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

func startIt(p *proc.Process) *proc.Process {
	if err := p.Start(); err != nil {
		panic(err)
	}
	return p
}

func mustStart(target any, args ...any) *proc.Process {
	return startIt(proc.New(target, args...))
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
