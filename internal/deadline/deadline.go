// Package deadline is the one definition of shmkit's timeout convention, re-exported by every
// package that blocks (futex, proc, lock, ring, value, and those built on them):
//
//   - a timeout argument is a time.Duration; 0 tries once without blocking, Forever (-1) waits
//     without bound, and any other negative value is ErrBadTimeout;
//   - a wait that runs out of time returns an error that matches ErrTimeout (and
//     os.ErrDeadlineExceeded and context.DeadlineExceeded) under errors.Is and reports
//     Timeout() == true; the error made by Timeout names the operation and the duration;
//   - the Context form of a call returns ctx.Err() when the context ends first, as os/exec and
//     net do.
//
// Keeping the values here, not in futex, lets the public packages say Forever and ErrTimeout
// without sending users to the futex package.
package deadline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Forever, passed as a timeout, waits without a time bound.
const Forever time.Duration = -1

// ErrTimeout is the sentinel every timeout matches under errors.Is.
var ErrTimeout error = timeoutError{}

// ErrBadTimeout is returned for a negative timeout other than Forever.
var ErrBadTimeout = errors.New("shmkit: negative timeout (pass Forever to wait without bound)")

type timeoutError struct{}

func (timeoutError) Error() string   { return "shmkit: timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// opTimeout is a timeout that says which operation ran out of time and after how long.
type opTimeout struct {
	op    string
	after time.Duration
}

func (e *opTimeout) Error() string {
	if e.after <= 0 {
		return e.op + ": would block (timeout 0)"
	}
	return fmt.Sprintf("%s: timed out after %v", e.op, e.after)
}
func (*opTimeout) Timeout() bool   { return true }
func (*opTimeout) Temporary() bool { return true }
func (*opTimeout) Is(target error) bool {
	return target == ErrTimeout || target == os.ErrDeadlineExceeded ||
		target == context.DeadlineExceeded
}

// Timeout returns the error for op (for example "lock: Lock") having waited d without success. It
// matches ErrTimeout.
func Timeout(op string, d time.Duration) error { return &opTimeout{op: op, after: d} }

// Check returns nil for a valid timeout argument and an error matching ErrBadTimeout, naming op and
// the value, for a negative one other than Forever.
func Check(op string, d time.Duration) error {
	if d < 0 && d != Forever {
		return fmt.Errorf("%s: %w: %v", op, ErrBadTimeout, d)
	}
	return nil
}

// D is a wait's bound: a context (may be nil), and a time limit that is none (Forever), zero (a
// try) or a point in time. The zero D waits forever with no context.
type D struct {
	ctx   context.Context
	at    time.Time
	total time.Duration // the timeout as given, for the error message
	try   bool
	bound bool // at is meaningful
}

// New makes the bound of a call given ctx (nil for none) and the timeout d; op names the call in
// the ErrBadTimeout error.
func New(op string, ctx context.Context, d time.Duration) (D, error) {
	switch {
	case d == Forever:
		return D{ctx: ctx, total: d}, nil
	case d < 0:
		return D{}, Check(op, d)
	case d == 0:
		return D{ctx: ctx, try: true}, nil
	}
	return D{ctx: ctx, at: time.Now().Add(d), total: d, bound: true}, nil
}

// Ctx is the bound of a Context form: no time limit beyond the context's own.
func Ctx(ctx context.Context) D { return D{ctx: ctx, total: Forever} }

// Try is the bound of a call that must not wait at all.
func Try() D { return D{try: true} }

// Forever reports whether the bound has neither a time limit nor a context.
func (d D) Forever() bool { return !d.try && !d.bound && d.ctx == nil }

// IsTry reports whether the bound forbids waiting.
func (d D) IsTry() bool { return d.try }

// Context returns the bound's context, or nil.
func (d D) Context() context.Context { return d.ctx }

// Total is the timeout as it was given (Forever when unbounded, 0 for a try).
func (d D) Total() time.Duration {
	if d.try {
		return 0
	}
	return d.total
}

// Left returns how long the next wait may last, at most limit (limit < 0: no cap, and Forever is
// returned for an unbounded wait). It returns the context's error when the context has ended, and
// errTimeout — ErrTimeout or what the caller passes — when the time is up or the call is a try.
func (d D) Left(limit time.Duration) (time.Duration, error) {
	if d.ctx != nil {
		if err := d.ctx.Err(); err != nil {
			return 0, err
		}
	}
	if d.try {
		return 0, ErrTimeout
	}
	if !d.bound {
		return limit, nil
	}
	l := time.Until(d.at)
	if l <= 0 {
		return 0, ErrTimeout
	}
	if limit >= 0 && l > limit {
		l = limit
	}
	return l, nil
}

// Err names op in a timeout error, or returns err unchanged when it is not a bare ErrTimeout.
func (d D) Err(op string, err error) error {
	if err == ErrTimeout {
		return Timeout(op, d.Total())
	}
	return err
}

// WaitChan waits until done is closed, at most timeout (Forever: no bound; 0: only look). It
// returns nil once done is closed, ErrBadTimeout for a bad timeout, and a timeout error naming op
// otherwise. It is the Join of a process and the Wait of a pool's result.
func WaitChan(op string, done <-chan struct{}, timeout time.Duration) error {
	if err := Check(op, timeout); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	default:
	}
	if timeout == 0 {
		return Timeout(op, 0)
	}
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-done:
		return nil
	case <-tc:
		return Timeout(op, timeout)
	}
}
