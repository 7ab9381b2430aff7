package proc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shmkit/shmkit/internal/deadline"
)

// ErrLeftRunning is wrapped by the error Shutdown returns for each child it had to end: a
// non-daemon child still running when the time to wait ran out, or any child that had to be
// killed because it outlived SIGTERM.
var ErrLeftRunning = errors.New("proc: child still running at shutdown")

// ShutdownGrace is how long Shutdown lets a terminated (SIGTERM) child take to exit before it
// kills it (SIGKILL). A Go child exits at once on SIGTERM unless it handles the signal.
const ShutdownGrace = 2 * time.Second

// reapBound is how long Shutdown waits for a killed child to be reaped before it gives up on it.
const reapBound = 10 * time.Second

// Shutdown ends this process's children for a clean exit, as Python does when its main module
// returns: call it (deferred) at the end of main, before os.Exit. It terminates (SIGTERM) the
// daemon children at once, and waits up to timeout (Forever: no bound; 0: no wait) for the
// non-daemon ones to end on their own; then it terminates those still running, and kills
// (SIGKILL) any child, daemon or not, still running ShutdownGrace after its SIGTERM. It returns
// once every child it saw has been reaped (or, for one that a SIGKILL did not end within 10 s,
// given up on), so none is left behind as an orphan.
//
// It returns nil when every non-daemon child ended on its own with status 0. Otherwise it returns
// errors.Join of: an error wrapping ErrLeftRunning for each child it had to terminate or kill
// (naming it, its pid and what it did), and the *ExitError of each non-daemon child that ended
// on its own but failed. A negative timeout other than Forever returns ErrBadTimeout and ends
// nothing. Children started while Shutdown runs are not waited for. A process killed before
// it calls Shutdown leaves its daemon children ending anyway (they watch its lifeline) and its
// non-daemon ones running, as orphans that see ParentAlive turn false.
func Shutdown(timeout time.Duration) error {
	if err := deadline.Check("proc: Shutdown", timeout); err != nil {
		return err
	}
	var expired <-chan time.Time
	if timeout != Forever {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	return shutdown(expired, func() string { return fmt.Sprintf("after %v", timeout) })
}

// ShutdownContext is Shutdown waiting for the non-daemon children until ctx is done, instead of
// for a timeout.
func ShutdownContext(ctx context.Context) error {
	return shutdown(ctx.Done(), func() string { return fmt.Sprintf("when the context ended (%v)", ctx.Err()) })
}

// shutdown is Shutdown with the end of the wait for non-daemon children as a channel.
func shutdown[T any](expired <-chan T, when func() string) error {
	kids := ActiveChildren()
	termed := map[*Process]bool{}
	for _, p := range kids {
		if p.Daemon {
			p.Terminate()
			termed[p] = true
		}
	}
	var errs []error
	over := false // expired has fired: it fires once
	for _, p := range kids {
		if p.Daemon {
			continue
		}
		if !over {
			select {
			case <-p.done:
			case <-expired:
				over = true
			}
		}
		select {
		case <-p.done:
			if err := p.exitErr(); err != nil {
				errs = append(errs, err)
			}
		default:
			p.Terminate()
			termed[p] = true
			errs = append(errs, fmt.Errorf("%w: %s (pid %d) was still running %s: terminated (SIGTERM)", ErrLeftRunning, p.Name, p.Pid(), when()))
		}
	}
	graceEnd := time.Now().Add(ShutdownGrace)
	var killed []*Process
	for _, p := range kids {
		if termed[p] && p.Join(max(time.Until(graceEnd), 0)) != nil {
			p.Kill()
			killed = append(killed, p)
			errs = append(errs, fmt.Errorf("%w: %s (pid %d) was still running %v after SIGTERM: killed (SIGKILL)", ErrLeftRunning, p.Name, p.Pid(), ShutdownGrace))
		}
	}
	for _, p := range killed {
		if p.Join(reapBound) != nil {
			errs = append(errs, fmt.Errorf("%w: %s (pid %d) did not end within %v of SIGKILL", ErrLeftRunning, p.Name, p.Pid(), reapBound))
		}
	}
	return errors.Join(errs...)
}
