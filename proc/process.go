package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/inherit"
	"github.com/shmkit/shmkit/internal/logx"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrNotRegistered is returned by Start for a target that was not registered (or cannot be:
	// a closure).
	ErrNotRegistered = errors.New("proc: target not registered")
	// ErrBadArgs is returned by Start when the arguments do not fit the target's parameters or
	// cannot cross to the child whole. The message names the place, then the reason:
	// "proc: bad arguments: argument 1 of main.work: field Tasks[2]: ..." (for a
	// Run type: "...: main.Worker: field Done: ..."; for the count: "...: main.work: takes 2
	// arguments, got 3").
	ErrBadArgs = errors.New("proc: bad arguments")
	// ErrDaemonic is returned by Start in a daemon process: a daemon may not have children (as in
	// Python), since it is killed with its parent and would orphan them.
	ErrDaemonic = errors.New("proc: a daemonic process is not allowed to have children")
	// ErrUnsupported is returned by Start on platforms other than Linux. It matches
	// errors.ErrUnsupported, as every "not supported" error of this package does.
	ErrUnsupported = fmt.Errorf("proc: not supported on this platform: %w", errors.ErrUnsupported)
	// ErrStarted is returned by Start on a process started before.
	ErrStarted = errors.New("proc: process already started")
	// ErrNotStarted is returned by Join, Terminate and Kill on a process never started.
	ErrNotStarted = errors.New("proc: process not started")
	// ErrTimeout is returned by Join when the timeout passed; the same value
	// every shmkit package returns for timeouts.
	ErrTimeout = deadline.ErrTimeout

	// ErrBadTimeout is returned for a negative timeout other than Forever: the same value in
	// every shmkit package.
	ErrBadTimeout = deadline.ErrBadTimeout
)

// Forever, passed as a timeout, waits without a time bound.
const Forever = deadline.Forever

// A Process is a child process running a registered target: the same binary, re-executed, which
// runs the target from Main and exits. Set Name, Daemon, Stdout, Stderr and Env before Start.
//
// A child inherits every anonymous shared segment this process has open when it starts (the
// default heap among them), so shared objects passed as arguments, or held in their fields or in
// a Runner target's, work in it as they do here. Plain values are encoded (package
// internal/codec): the child gets copies, as with Python's pickling; changes it makes to them are
// not seen here.
//
// The methods of a started Process are safe for concurrent use. The child is reaped as soon as it
// exits, so it never lingers as a zombie, whether or not Join is called.
type Process struct {
	// Name is the process's name, visible in the child as Current().Name. Default: Process-N
	// (Process-N:M in a child), as in Python.
	Name string
	// Daemon marks a child that ends when this process ends, however it ends (SIGKILL included),
	// and that may not start children of its own.
	Daemon bool
	// Stdout and Stderr receive the child's output; nil means this process's own.
	Stdout, Stderr io.Writer
	// Env holds extra environment variables ("KEY=value") for the child.
	Env []string

	tg    *target
	tgErr error
	tval  any
	args  []any

	mu      sync.Mutex
	started bool
	cmd     *exec.Cmd
	pid     int
	done    chan struct{} // closed once the child is reaped
	state   *os.ProcessState
	waitErr error
	tail    *tailWriter // the end of the child's stderr, when it passes through a pipe
	spec    *os.File    // this end of the start channel, until the child is reaped
	// skippedMain: the child exited without saying it went through Main.
	skippedMain bool
	warm        *spare // the warm spare the child runs in, whose goroutine waits for it
}

// New returns a Process that will run target(args...) in a child when started. target must have
// been registered (Register); New itself does no checking, Start does.
func New(target any, args ...any) *Process {
	p := &Process{tval: target, args: args, done: make(chan struct{})}
	p.tg, p.tgErr = lookupTarget(target)
	return p
}

// Start is New followed by Start, for the common case.
func Start(target any, args ...any) (*Process, error) {
	p := New(target, args...)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts the child. It returns once the child process exists (it has not necessarily
// begun to run the target). It fails, with nothing started, when the target is not registered or
// is a closure, when the arguments do not fit its parameters or cannot cross whole (ErrBadArgs,
// naming the argument and the field), in a daemon process, or when the process was started
// before.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return fmt.Errorf("proc: Start of a Process not made by New")
	}
	if p.started {
		return ErrStarted
	}
	if !supported {
		return ErrUnsupported
	}
	if os.Getenv(envChild) != "" && !self.isChild {
		strayChild()
	}
	if self.daemon {
		return ErrDaemonic
	}
	if p.tgErr != nil {
		return p.tgErr
	}
	sp, segments, files, err := p.buildSpec()
	if err != nil {
		return err
	}
	if s := takeSpare(p, sp.Segments, files); s != nil {
		ids := sp.Segments
		sp.Segments = s.segs
		if p.startWith(s, sp) == nil {
			return nil
		}
		sp.Segments = ids // the spare failed: start cold
	}
	blob, err := sp.encode()
	if err != nil {
		return err
	}
	life, err := lifelineReader()
	if err != nil {
		return err
	}
	specW, specR, err := specChannel()
	if err != nil {
		return err
	}

	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(append(os.Environ(), envChild+"=1"), p.Env...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	} else if _, ok := cmd.Stderr.(*os.File); !ok {
		// exec copies what the child writes through a pipe: keep its end for ExitError.
		p.tail = &tailWriter{w: cmd.Stderr}
		cmd.Stderr = p.tail
	}
	cmd.ExtraFiles = []*os.File{specR, life}
	for _, s := range segments {
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.File())
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, files...)
	err = cmd.Start()
	specR.Close() // the child's end: only the child holds it now, so its exit is seen here
	if err != nil {
		specW.Close()
		return fmt.Errorf("proc: start %s: %w", p.Name, err)
	}
	// Written before Start returns, so the caller may exit right away. A spec that fits the
	// socket's buffer is written at once; a larger one as the child reads it. A child that exits
	// without reading it fails the write, rather than leave it waiting.
	_, werr := specW.Write(withStart(blob, cmd.Process.Pid, sp))
	if werr == nil {
		werr = shutWrite(specW)
	}
	if werr != nil {
		specW.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("proc: send start arguments to %s: %w", p.Name, werr)
	}
	runtime.KeepAlive(segments)
	runtime.KeepAlive(files)
	p.started, p.cmd, p.pid, p.spec = true, cmd, cmd.Process.Pid, specW
	children.add(p)
	logx.Debug("proc: started", "name", p.Name, "child", p.pid, "target", p.tg.name, "daemon", p.Daemon)
	go p.reap()
	return nil
}

// reap waits for the child, records how it ended, and wakes Join.
func (p *Process) reap() {
	var err error
	if p.warm != nil {
		<-p.warm.done
		err = p.warm.err
	} else {
		err = p.cmd.Wait()
	}
	skipped := !acked(p.spec)
	p.spec.Close()
	p.mu.Lock()
	p.state = p.cmd.ProcessState
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Exited() {
		p.skippedMain = skipped // a child killed before it could answer did not skip it
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.waitErr = err
	}
	p.mu.Unlock()
	children.remove(p)
	close(p.done)
	code, _ := p.ExitCode()
	logx.Debug("proc: exited", "name", p.Name, "child", p.pid, "exitcode", code)
}

// spec is what a child reads at start-up, from descriptor 3, in the binary form of specwire.go.
type spec struct {
	Target    string
	Name      string
	Daemon    bool
	Ident     string // dotted identity: "3" for the third child of the main process, "3:1" below it
	Parent    int
	PName     string
	Self      []byte // a Runner target's value, its shared objects and files zeroed
	SelfSlots []slot // the Runner target's shared objects and files
	Args      []arg
	Segments  []uint64 // ids of the segments at descriptors 5, 6, ...
	LogLevel  *int     // logging switched on programmatically in the parent
}

// arg is one start argument: its encoded value (none for a nil one), with the shared objects and
// files it holds zeroed, and those apart.
type arg struct {
	Data  []byte
	Slots []slot
}

var sharedType = reflect.TypeFor[shm.Shared]()

// buildSpec makes the child's spec, and returns it with the segments the child inherits and the
// files it is handed, in the order of the spec's descriptors.
func (p *Process) buildSpec() (*spec, []inherit.Segment, []*os.File, error) {
	tg := p.tg
	n := nextChild.Add(1)
	sp := &spec{Target: tg.name, Daemon: p.Daemon, Parent: os.Getpid(), PName: self.name}
	if self.ident == "" {
		sp.Ident = strconv.FormatInt(n, 10)
	} else {
		sp.Ident = self.ident + ":" + strconv.FormatInt(n, 10)
	}
	if p.Name == "" {
		p.Name = "Process-" + sp.Ident
	}
	sp.Name = p.Name
	var st stripper
	if tg.typ != nil {
		if len(p.args) != 0 {
			return nil, nil, nil, fmt.Errorf("%w: %s: a Runner target takes no arguments; put them in its fields", ErrBadArgs, tg.name)
		}
		rv := reflect.ValueOf(p.tval)
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				rv = reflect.New(tg.typ)
			}
			rv = rv.Elem()
		}
		v, slots, err := st.value(rv)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %s: %w", ErrBadArgs, tg.name, err)
		}
		b, err := codec.Marshal(v.Interface())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %s: %w", ErrBadArgs, tg.name, err)
		}
		sp.Self, sp.SelfSlots = b, slots
	} else {
		ft := tg.fn.Type()
		if len(p.args) != ft.NumIn() {
			return nil, nil, nil, fmt.Errorf("%w: %s: takes %d arguments, got %d", ErrBadArgs, tg.name, ft.NumIn(), len(p.args))
		}
		for i, a := range p.args {
			ag, err := st.arg(a, ft.In(i))
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%w: argument %d of %s: %w", ErrBadArgs, i, tg.name, err)
			}
			sp.Args = append(sp.Args, ag)
		}
	}
	segments := inherit.Inheritable()
	for _, s := range segments {
		sp.Segments = append(sp.Segments, s.ID())
	}
	if lv := programmaticLevel.Load(); lv != nil {
		v := int(*lv)
		sp.LogLevel = &v
	}
	return sp, segments, st.files, nil
}

// arg checks that a fits a parameter of type pt and encodes it, its shared objects and files
// apart.
func (st *stripper) arg(a any, pt reflect.Type) (arg, error) {
	if rv := reflect.ValueOf(a); a == nil || (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.IsNil() {
		if a != nil && !reflect.TypeOf(a).AssignableTo(pt) {
			return arg{}, fmt.Errorf("a nil %v, parameter is %v", reflect.TypeOf(a), pt)
		}
		switch pt.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			return arg{}, nil
		}
		return arg{}, fmt.Errorf("nil, parameter is %v", pt)
	}
	v := reflect.New(pt).Elem()
	switch at := reflect.TypeOf(a); {
	case at.AssignableTo(pt):
		v.Set(reflect.ValueOf(a))
	case numeric(at) && numeric(pt):
		cv, err := convertNumber(reflect.ValueOf(a), pt)
		if err != nil {
			return arg{}, err
		}
		v.Set(cv)
	default:
		return arg{}, fmt.Errorf("a %v, parameter is %v", at, pt)
	}
	v, slots, err := st.value(v)
	if err != nil {
		return arg{}, err
	}
	b, err := codec.Marshal(v.Interface())
	if err != nil {
		return arg{}, err
	}
	return arg{Data: b, Slots: slots}, nil
}

var nextChild atomic.Int64

// Join waits for the child to end, at most timeout (Forever: no bound; 0: just look). It returns
// nil once the child has ended (read ExitCode for how), ErrTimeout when it is still running.
func (p *Process) Join(timeout time.Duration) error {
	if err := p.check(); err != nil {
		return err
	}
	if err := deadline.WaitChan("proc: Join", p.done, timeout); err != nil {
		return err
	}
	return p.waitErr
}

// JoinContext waits for the child to end or ctx to be done, and returns nil or ctx.Err().
func (p *Process) JoinContext(ctx context.Context) error {
	if err := p.check(); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel closed when the child has ended and been reaped: the process's sentinel,
// for select, and for ring.Wait as ring.Ended(p).
func (p *Process) Done() <-chan struct{} { return p.done }

func (p *Process) check() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return ErrNotStarted
	}
	return nil
}

// Signal sends sig to the child. A child that has already ended is left alone: nil.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.check(); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Terminate sends SIGTERM (Python's terminate()); Join afterwards to wait for the end.
func (p *Process) Terminate() error { return p.Signal(syscall.SIGTERM) }

// Kill sends SIGKILL (Python's kill()); Join afterwards to wait for the end.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }

// IsAlive reports whether the child was started and has not ended yet.
func (p *Process) IsAlive() bool {
	if p.check() != nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode returns how the child ended, and false while it has not (or was never started): its
// exit status, or the negative number of the signal that killed it (-9 for SIGKILL), as Python's
// exitcode. A target that returns an error exits 1; one that panics exits 2.
func (p *Process) ExitCode() (int, bool) {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st == nil {
		return 0, false
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal()), true
	}
	return st.ExitCode(), true
}

// Pid returns the child's process id, 0 before Start.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// String describes the process as Python's repr does: name, pid, state.
func (p *Process) String() string {
	state := "initial"
	if p.IsAlive() {
		state = "started"
	} else if code, ok := p.ExitCode(); ok {
		state = fmt.Sprintf("stopped exitcode=%d", code)
	}
	if p.Daemon {
		state += " daemon"
	}
	return fmt.Sprintf("<Process name=%q pid=%d %s>", p.Name, p.Pid(), state)
}

// children tracks started, not yet reaped children, for ActiveChildren.
var children childSet

type childSet struct {
	mu sync.Mutex
	m  map[*Process]struct{}
}

func (c *childSet) add(p *Process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[*Process]struct{})
	}
	c.m[p] = struct{}{}
}

func (c *childSet) remove(p *Process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, p)
}

// ActiveChildren returns the children of this process that have started and not yet ended.
func ActiveChildren() []*Process {
	children.mu.Lock()
	defer children.mu.Unlock()
	out := make([]*Process, 0, len(children.m))
	for p := range children.m {
		if p.IsAlive() {
			out = append(out, p)
		}
	}
	return out
}

// numeric reports whether t is a number type: an argument of one number type may be given for a
// parameter of another (an untyped constant 5 for an int64), as the codec carries the value.
func numeric(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Float64
}

// convertNumber converts v, a number, to the number type pt, or says why it cannot exactly: a
// fraction or an out-of-range value for an integer type, a negative number for an unsigned one,
// an integer a float cannot hold exactly, a float beyond float32's range. A float64 given for a
// float32 is rounded, as Go rounds a constant.
func convertNumber(v reflect.Value, pt reflect.Type) (reflect.Value, error) {
	to := reflect.New(pt).Elem()
	bad := func(why string) (reflect.Value, error) {
		return reflect.Value{}, fmt.Errorf("%v (%v) does not fit a parameter of type %v: %s", v, v.Type(), pt, why)
	}
	switch k := v.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		i := v.Int()
		switch {
		case isInt(pt) && to.OverflowInt(i), isUint(pt) && i >= 0 && to.OverflowUint(uint64(i)):
			return bad("out of range")
		case isUint(pt) && i < 0:
			return bad("negative")
		case isFloat(pt):
			if g := v.Convert(pt).Float(); g < -(1<<63) || g >= 1<<63 || int64(g) != i {
				return bad("not exactly representable")
			}
		}
	case k >= reflect.Uint && k <= reflect.Uintptr:
		u := v.Uint()
		switch {
		case isInt(pt) && (u > math.MaxInt64 || to.OverflowInt(int64(u))), isUint(pt) && to.OverflowUint(u):
			return bad("out of range")
		case isFloat(pt) && (v.Convert(pt).Float() >= 1<<64 || uint64(v.Convert(pt).Float()) != u):
			return bad("not exactly representable")
		}
	default: // a float
		f := v.Float()
		switch {
		case (isInt(pt) || isUint(pt)) && f != math.Trunc(f):
			return bad("not an integer")
		case isInt(pt) && (f < -(1<<63) || f >= 1<<63 || to.OverflowInt(int64(f))):
			return bad("out of range")
		case isUint(pt) && f < 0:
			return bad("negative")
		case isUint(pt) && (f >= 1<<64 || to.OverflowUint(uint64(f))):
			return bad("out of range")
		case pt.Kind() == reflect.Float32 && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32:
			return bad("out of range")
		}
	}
	return v.Convert(pt), nil
}

func isInt(t reflect.Type) bool   { return t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64 }
func isUint(t reflect.Type) bool  { return t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr }
func isFloat(t reflect.Type) bool { return t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 }
