package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"
)

// An ExitError reports a child that ended other than by returning nil from its target: Wait,
// WaitTimeout and WaitContext return one (match it with errors.As). Its fields are as the child
// ended; a child killed by a signal has Code -Signal, as ExitCode reports it.
type ExitError struct {
	Name string // the Process's Name
	Pid  int
	// Code is the exit status (ExitCodeError when the target returned an error, ExitCodePanic
	// when it panicked, ExitCodeStartFailed, ExitCodeParentGone, or what the target passed to
	// os.Exit), or the negative number of the signal that killed the child.
	Code int
	// Signal is the signal that killed the child, 0 when it exited.
	Signal syscall.Signal
	// Stderr holds the last lines (at most 4 KiB) that the child wrote on its standard error,
	// when Process.Stderr was set to a writer other than an *os.File: proc then sees what
	// passes to it. Empty otherwise (the child then writes straight to the file).
	Stderr string
	// SkippedMain: the child ran the program's own main instead of its target, since main does
	// not call Main first. It then stops at its first Start, with ExitCodeStartFailed, or ends
	// as the program does (even with code 0): either way its target never ran.
	SkippedMain bool
}

// Error says which child ended how, why when proc knows (the exit codes it sets), and ends with
// the tail of the child's stderr when it has one.
func (e *ExitError) Error() string {
	how := fmt.Sprintf("exited with code %d", e.Code)
	switch {
	case e.Signal != 0:
		how = fmt.Sprintf("was killed by signal %d (%v)", int(e.Signal), e.Signal)
	case e.Code == ExitCodeError:
		how += " (its target returned an error)"
	case e.Code == ExitCodePanic:
		how += " (its target panicked)"
	case e.Code == ExitCodeStartFailed:
		how += " (it could not start its target)"
	case e.Code == ExitCodeParentGone:
		how += " (a daemon whose parent died)"
	}
	if e.SkippedMain {
		how += " without running its target: the program's main does not call proc.Main() first " +
			"(call it as the first statement of main, or of TestMain)"
	}
	msg := fmt.Sprintf("proc: %s (pid %d) %s", e.Name, e.Pid, how)
	if e.Stderr != "" {
		msg += "; its stderr ends:\n" + strings.TrimRight(e.Stderr, "\n")
	}
	return msg
}

// Wait waits for the child to end and returns nil when its target returned nil (exit status
// 0), an *ExitError saying how it ended otherwise (a child that exited 0 without running its
// target, because the program's main does not call Main, included), ErrNotStarted before Start. A child that
// dies, however it dies, is seen as ended: Wait never hangs on a dead child.
func (p *Process) Wait() error { return p.WaitTimeout(Forever) }

// WaitTimeout is Wait with a bound: ErrTimeout, naming the bound, when the child is still
// running after d (Forever: no bound; 0: just look).
func (p *Process) WaitTimeout(d time.Duration) error {
	if err := p.Join(d); err != nil {
		return err
	}
	return p.exitErr()
}

// WaitContext is Wait until ctx is done: ctx.Err() when it is done first.
func (p *Process) WaitContext(ctx context.Context) error {
	if err := p.JoinContext(ctx); err != nil {
		return err
	}
	return p.exitErr()
}

// exitErr returns nil for a child that exited 0, an *ExitError for any other end.
func (p *Process) exitErr() error {
	code, ok := p.ExitCode()
	p.mu.Lock()
	skipped := p.skippedMain
	p.mu.Unlock()
	if !ok || code == 0 && !skipped {
		return nil
	}
	e := &ExitError{Name: p.Name, Pid: p.Pid(), Code: code, SkippedMain: skipped}
	if code < 0 {
		e.Signal = syscall.Signal(-code)
	}
	if p.tail != nil {
		e.Stderr = p.tail.String()
	}
	return e
}

// tailWriter passes what it is given on to w and keeps the last tailMax bytes of it, from a line
// start when there is one, for ExitError.Stderr.
type tailWriter struct {
	w  io.Writer
	mu sync.Mutex
	b  []byte
}

const tailMax = 4 << 10

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, b...)
	if len(t.b) > 2*tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	t.mu.Unlock()
	return t.w.Write(b)
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i+1 < len(b) {
			b = b[i+1:]
		}
	}
	return string(b)
}
