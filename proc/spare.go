package proc

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"

	"github.com/shmkit/shmkit/internal/inherit"
	"github.com/shmkit/shmkit/internal/logx"
)

// The warm spare: Python's forkserver idea, for a re-executed Go binary. A cold Start costs a
// process start, most of it the Go runtime and the binary's package initialization (2-3 ms on an
// idle 2-vCPU machine, 10-25 ms on a loaded one), before the child reads its spec. With a spare,
// a child is started ahead and waits, blocked on reading its spec; Start hands the spec to it,
// and a new spare is started in the background.
//
// A spare has what a child gets from its parent at exec fixed at the time it starts: the
// environment, standard output and error, and the anonymous segments it inherits. So Start takes
// it only for a Process whose Stdout, Stderr and Env are unset, that passes no *os.File, whose
// segments the spare inherited (a segment made since is not in it), and while the environment is
// unchanged; any other Start is a cold one, as without a spare.

var warm struct {
	mu      sync.Mutex
	on      bool
	spare   *spare
	filling bool // a spare is being started
}

// A spare is a child started ahead, waiting for its spec.
type spare struct {
	cmd   *exec.Cmd
	specW *os.File
	segs  []uint64 // the ids of the segments it inherited, in the order of its descriptors
	env   []string // the environment it was started with, without envChild
	done  chan struct{}
	err   error // cmd.Wait's, once done is closed
}

// SetWarmSpare switches the warm spare on or off for this process's later Starts. On, it starts a
// spare child now (returning its error, if it cannot) and a new one each time a Start takes it;
// the next Start that the spare fits (a Process with no Stdout, Stderr or Env set, no *os.File
// argument, started while the environment and the shared segments are those the spare started
// with) begins with the Go runtime already up in the child. Off, it kills the spare, if any, and
// waits for it. A spare that nobody takes exits quietly when this process ends, however it ends
// (it reads the end of its spec channel). A spare that died before it was taken is reaped and
// Start starts cold; one killed in the instant Start hands it the spec ends that Start's process,
// as a kill right after a cold Start would.
func SetWarmSpare(on bool) error {
	warm.mu.Lock()
	warm.on = on
	old := warm.spare
	if !on {
		warm.spare = nil
	}
	warm.mu.Unlock()
	if !on {
		if old != nil {
			old.discard()
		}
		return nil
	}
	if old != nil {
		return nil
	}
	return fillSpare()
}

// fillSpare starts a spare unless one exists or is starting, or spares are off.
func fillSpare() error {
	warm.mu.Lock()
	if !warm.on || warm.spare != nil || warm.filling || !supported || self.daemon {
		warm.mu.Unlock()
		return nil
	}
	warm.filling = true
	warm.mu.Unlock()
	s, err := startSpare()
	warm.mu.Lock()
	warm.filling = false
	if err == nil && warm.on && warm.spare == nil {
		warm.spare, s = s, nil
	}
	warm.mu.Unlock()
	if s != nil {
		s.discard() // spares were switched off meanwhile
	}
	return err
}

func startSpare() (*spare, error) {
	life, err := lifelineReader()
	if err != nil {
		return nil, err
	}
	specW, specR, err := specChannel()
	if err != nil {
		return nil, err
	}
	segments := inherit.Inheritable()
	s := &spare{specW: specW, env: os.Environ(), done: make(chan struct{})}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(slices.Clip(s.env), envChild+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{specR, life}
	for _, seg := range segments {
		cmd.ExtraFiles = append(cmd.ExtraFiles, seg.File())
		s.segs = append(s.segs, seg.ID())
	}
	err = cmd.Start()
	specR.Close()
	if err != nil {
		specW.Close()
		return nil, fmt.Errorf("proc: start a warm spare: %w", err)
	}
	s.cmd = cmd
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// discard kills a spare nobody took and waits for it.
func (s *spare) discard() {
	s.cmd.Process.Kill()
	<-s.done
	s.specW.Close()
}

// takeSpare returns the spare if p may use it, with segs, the ids of the segments p's child is
// to inherit, among those the spare has; nil otherwise. A new spare is started in the background
// once one is taken.
func takeSpare(p *Process, segs []uint64, files []*os.File) *spare {
	if p.Stdout != nil || p.Stderr != nil || len(p.Env) > 0 || len(files) > 0 {
		return nil
	}
	warm.mu.Lock()
	s := warm.spare
	if s == nil {
		warm.mu.Unlock()
		return nil
	}
	select {
	case <-s.done: // it died before it was taken
		warm.spare = nil
		warm.mu.Unlock()
		s.specW.Close()
		go fillSpare()
		return nil
	default:
	}
	fits := slices.Equal(s.env, os.Environ())
	for _, id := range segs {
		fits = fits && slices.Contains(s.segs, id)
	}
	warm.spare = nil
	warm.mu.Unlock()
	if !fits {
		// This process has changed since the spare started (a new segment, say): replace it,
		// so that the next Start has one that fits.
		go func() {
			s.discard()
			fillSpare()
		}()
		return nil
	}
	go fillSpare()
	return s
}

// startWith gives the spec sp to the spare s, for p, whose lock is held; on an error, s is
// discarded and p is left unstarted.
func (p *Process) startWith(s *spare, sp *spec) error {
	blob, err := sp.encode()
	if err == nil {
		if _, err = s.specW.Write(withStart(blob, s.cmd.Process.Pid, sp)); err == nil {
			err = shutWrite(s.specW)
		}
	}
	if err != nil {
		s.discard()
		return err
	}
	p.started, p.cmd, p.pid, p.spec, p.warm = true, s.cmd, s.cmd.Process.Pid, s.specW, s
	children.add(p)
	logx.Debug("proc: started in a warm spare", "name", p.Name, "child", p.pid, "target", p.tg.name, "daemon", p.Daemon)
	go p.reap()
	return nil
}
