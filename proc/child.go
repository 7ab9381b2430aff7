package proc

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/inherit"
	"github.com/shmkit/shmkit/internal/logx"
	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/shm"
)

// The start protocol. The parent re-executes /proc/self/exe with envChild set and these
// descriptors:
//
//	3      the read end of a pipe carrying the encoded spec and the child's start time (then EOF)
//	4      the read end of the parent's lifeline pipe: EOF when the parent has died
//	5...   the inherited anonymous segments, in the order spec.Segments lists their ids, then the
//	       *os.File arguments, in the order of their File indices
const (
	envChild   = inherit.EnvChild
	fdSpec     = 3
	fdLifeline = 4
	fdSegments = 5
	maxSpec    = codec.MaxMessage
)

// Exit codes of a child that did not run its target to a nil end; Process.ExitCode and
// ExitError.Code report them.
const (
	ExitCodeError = 1 // the target returned an error; it is printed on stderr
	ExitCodePanic = 2 // the target panicked; the message and stack are printed on stderr
	// ExitCodeStartFailed: the child could not set itself up (a broken spec, an unregistered
	// target, a child that did not go through Main).
	ExitCodeStartFailed = 3
	// ExitCodeParentGone: a daemon child exits with it when its parent dies.
	ExitCodeParentGone = 4
)

// self describes this process.
var self struct {
	name     string
	ident    string
	daemon   bool
	parent   int
	pname    string
	isChild  bool
	orphaned atomic.Bool // the parent is gone (the lifeline read EOF)
}

func init() {
	self.name = "MainProcess"
}

// Main must be the first statement of main (and of TestMain, for tests that start processes). In
// the parent it returns at once. In a child started by Process.Start it runs the requested target
// and exits the process with its status, never returning.
func Main() {
	if os.Getenv(envChild) == "" {
		return
	}
	os.Exit(runChild())
}

// startBytes is the length of the trailer after the spec: the child's start time (pids.StartTime),
// read by the parent, or 0 when it could not (the child then reads its own).
const startBytes = 8

// withStart appends to the spec blob the start time of the child pid, which the parent reads
// once the child exists: in the parent the read costs a fraction of what a new process pays for
// its first read of /proc, at every start. Only a child that inherits segments needs it at once
// (it records itself in them); for another the trailer is 0 and the child reads its own start
// time if it ever needs it.
func withStart(blob []byte, pid int, sp *spec) []byte {
	var start uint64
	if len(sp.Segments) > 0 {
		start, _ = pids.StartTime(pid)
	}
	return binary.LittleEndian.AppendUint64(blob, start)
}

// takeStart gives the trailer of blob to pids.SetSelfStart and returns the spec before it.
func takeStart(blob []byte) []byte {
	n := len(blob) - startBytes
	pids.SetSelfStart(binary.LittleEndian.Uint64(blob[n:]))
	return blob[:n]
}

// strayChild ends a process that Process.Start re-executed to run a target but whose main did
// not call Main first: it is running the program's own main instead, and would start a copy of
// itself, which would do the same, without end. As Python's spawn refuses to start a process
// from a child still bootstrapping, it stops here, at its first Start, saying what to do.
func strayChild() {
	fmt.Fprintf(os.Stderr, "proc: process %d was started by proc.Start to run a target, but its main did not call proc.Main() first, "+
		"so it is running the program's own main instead; it stops here rather than start a copy of itself. "+
		"Call proc.Main() as the first statement of main (in a test binary, in TestMain: "+
		"func TestMain(m *testing.M) { proc.Main(); os.Exit(m.Run()) })\n", os.Getpid())
	os.Exit(ExitCodeStartFailed)
}

// IsChild reports whether this process was started by Process.Start.
func IsChild() bool { return self.isChild }

func runChild() int {
	os.Unsetenv(envChild) // our own children get theirs anew; plain exec'd programs get none
	self.isChild = true
	specFile := os.NewFile(fdSpec, "shmkit-spec")
	blob, err := io.ReadAll(io.LimitReader(specFile, maxSpec+startBytes+1))
	// Tell the parent this child went through Main (a child that did not is running the
	// program's own main instead); it reads the byte once the child has ended. Only after
	// reading the spec: a parent that exits while its socket holds an unread byte would reset
	// the connection under a child still reading.
	specFile.Write([]byte{1})
	specFile.Close()
	if err == nil && len(blob) == 0 {
		// A warm spare (SetWarmSpare) whose parent ended without giving it a target: it
		// leaves quietly.
		return ExitCodeParentGone
	}
	if err != nil || len(blob) > maxSpec+startBytes || len(blob) < startBytes {
		return startFailed("read start spec: %v (%d bytes)", err, len(blob))
	}
	blob = takeStart(blob)
	sp, err := unmarshalSpec(blob)
	if err != nil {
		return startFailed("decode start spec: %v", err)
	}
	self.name, self.ident, self.daemon, self.parent, self.pname = sp.Name, sp.Ident, sp.Daemon, sp.Parent, sp.PName
	if sp.LogLevel != nil {
		logx.ToStderr(slog.Level(*sp.LogLevel))
	}
	// Inherited descriptors come without close-on-exec: set it, or every program this child
	// executes would inherit them too.
	closeOnExec(fdLifeline)
	if self.daemon {
		// A daemon must die with its parent: a goroutine (and its thread) waits for that. Other
		// children only answer ParentAlive, which polls the lifeline when asked.
		go watchLifeline(os.NewFile(fdLifeline, "shmkit-lifeline"))
	}
	for i, id := range sp.Segments {
		closeOnExec(fdSegments + i)
		got, err := inherit.Adopt(os.NewFile(uintptr(fdSegments+i), "shmkit-segment"))
		if err != nil {
			return startFailed("inherit segment %d: %v", i, err)
		}
		if got != id {
			return startFailed("inherited segment %d has id %#x, want %#x", i, got, id)
		}
	}
	tg := lookupName(sp.Target)
	if tg == nil {
		return startFailed("target %q is not registered in this binary; register it from a package-level var or init function, so that it is registered before proc.Main runs", sp.Target)
	}
	call, err := prepare(tg, sp)
	if err != nil {
		return startFailed("%v", err)
	}
	logx.Debug("proc: child running", "name", self.name, "target", tg.name)
	return run(call)
}

var (
	attacherType = reflect.TypeFor[shm.Attacher]()
	fileType     = reflect.TypeFor[*os.File]()
)

// maxFiles bounds the descriptors a spec may claim to pass (a sanity check on the spec).
const maxFiles = 1 << 16

// rebuildAs rebuilds the shared object ref names as a value of type pt: by attaching a new zero
// value of pt when pt is a shm.Attacher (generic types), else through the kind's registered
// function, whose result must be assignable to pt.
func rebuildAs(ref shm.Ref, pt reflect.Type) (reflect.Value, error) {
	if pt.Kind() == reflect.Pointer && pt.Implements(attacherType) {
		v := reflect.New(pt.Elem())
		if err := v.Interface().(shm.Attacher).AttachRef(ref); err != nil {
			return reflect.Value{}, fmt.Errorf("%v: %w", pt, err)
		}
		return v, nil
	}
	obj, err := shm.Rebuild(ref)
	if err != nil {
		return reflect.Value{}, err
	}
	ov := reflect.ValueOf(obj)
	if !ov.IsValid() || !ov.Type().AssignableTo(pt) {
		return reflect.Value{}, fmt.Errorf("a Ref of kind %v rebuilds a %T, which cannot be a %v", ref.Kind, obj, pt)
	}
	return ov, nil
}

// prepare decodes the spec's arguments into a call of the target.
func prepare(tg *target, sp *spec) (func() error, error) {
	pl := &placer{sp: sp}
	if tg.typ != nil {
		ptr := reflect.New(tg.typ)
		if err := codec.Unmarshal(sp.Self, ptr.Interface()); err != nil {
			return nil, fmt.Errorf("decode %s: %v", tg.name, err)
		}
		if err := pl.place(ptr.Elem(), sp.SelfSlots); err != nil {
			return nil, fmt.Errorf("%s: %v", tg.name, err)
		}
		f, _ := runMethod(ptr)
		return f, nil
	}
	ft := tg.fn.Type()
	if len(sp.Args) != ft.NumIn() {
		return nil, fmt.Errorf("%s takes %d arguments, the spec has %d", tg.name, ft.NumIn(), len(sp.Args))
	}
	in := make([]reflect.Value, len(sp.Args))
	for i, a := range sp.Args {
		pt := ft.In(i)
		v := reflect.New(pt)
		if a.Data != nil {
			if err := codec.Unmarshal(a.Data, v.Interface()); err != nil {
				return nil, fmt.Errorf("argument %d (%v): %v", i, pt, err)
			}
		}
		if err := pl.place(v.Elem(), a.Slots); err != nil {
			return nil, fmt.Errorf("argument %d (%v): %v", i, pt, err)
		}
		in[i] = v.Elem()
	}
	return func() error {
		out := tg.fn.Call(in)
		if len(out) == 1 && !out[0].IsNil() {
			return out[0].Interface().(error)
		}
		return nil
	}, nil
}

// run calls the target and turns its outcome into an exit code.
func run(call func() error) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "panic: %v [recovered in %s, pid %d]\n\n%s", r, self.name, os.Getpid(), debug.Stack())
			code = ExitCodePanic
		}
	}()
	if err := call(); err != nil {
		fmt.Fprintf(os.Stderr, "proc: %s (pid %d): %v\n", self.name, os.Getpid(), err)
		return ExitCodeError
	}
	return 0
}

func startFailed(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "proc: child %d could not start: %s\n", os.Getpid(), fmt.Sprintf(format, args...))
	return ExitCodeStartFailed
}

// watchLifeline blocks reading the lifeline; the parent never writes to it, so the read returns
// only when the parent's end is closed by the kernel: the parent has died, however it died. A
// daemon then exits at once; other children note that they are orphans.
func watchLifeline(f *os.File) {
	var b [1]byte
	for {
		_, err := f.Read(b[:])
		if err != nil {
			break
		}
	}
	self.orphaned.Store(true)
	if self.daemon {
		logx.Debug("proc: parent gone, daemon exiting", "name", self.name)
		os.Exit(ExitCodeParentGone)
	}
}

// lifeline is this process's end of the pipe its children watch: the write end stays open (and
// unwritten) for as long as the process lives; the read end is handed to every child.
var lifeline struct {
	once sync.Once
	r, w *os.File
	err  error
}

func lifelineReader() (*os.File, error) {
	lifeline.once.Do(func() {
		lifeline.r, lifeline.w, lifeline.err = os.Pipe()
		if lifeline.err != nil {
			lifeline.err = fmt.Errorf("proc: lifeline pipe: %w", lifeline.err)
		}
	})
	return lifeline.r, lifeline.err
}

// Info describes a process: this one (Current) or its parent (Parent).
type Info struct {
	Name   string
	Pid    int
	Daemon bool
}

// Current describes this process: "MainProcess" unless it is a child started by Process.Start.
func Current() Info {
	return Info{Name: self.name, Pid: os.Getpid(), Daemon: self.daemon}
}

// Parent describes the process that started this one, and false in a process not started by
// Process.Start (Python's parent_process() returning None).
func Parent() (Info, bool) {
	if !self.isChild {
		return Info{}, false
	}
	return Info{Name: self.pname, Pid: self.parent}, true
}

// ParentAlive reports, in a child, whether the parent process is still alive (its lifeline is
// open); in the main process it is always true.
func ParentAlive() bool {
	if !self.isChild || self.orphaned.Load() {
		return !self.orphaned.Load()
	}
	if !self.daemon {
		if lifelineClosed() {
			self.orphaned.Store(true)
		}
	}
	return !self.orphaned.Load()
}

// CPUCount returns the number of CPUs this process may use.
func CPUCount() int { return runtime.NumCPU() }

var programmaticLevel atomic.Pointer[slog.Level]

// LogToStderr switches lifecycle logging on, to stderr at level lv, in this process and in the
// children it starts from now on (Python's log_to_stderr). SHMKIT_LOG=debug does the same from the
// environment.
func LogToStderr(lv slog.Level) {
	programmaticLevel.Store(&lv)
	logx.ToStderr(lv)
}

// SetLogger sends lifecycle logging to l (nil: off) in this process only.
func SetLogger(l *slog.Logger) {
	programmaticLevel.Store(nil)
	logx.Set(l)
}
