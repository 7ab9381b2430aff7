//go:build linux

package futex

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/deadline"
)

// Futex operation codes from linux/futex.h; x/sys does not define them. FUTEX_PRIVATE_FLAG (128)
// is deliberately absent: a private futex cannot wake another process.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE

	futex2SizeU32   = 0x02 // FUTEX2_SIZE_U32
	clockMonotonic  = 1    // CLOCK_MONOTONIC, for futex_waitv's absolute timeout
	maxWakeAllCount = 1<<31 - 1
)

// Wait sleeps while *word == val, at most timeout (Forever: no bound; 0: return at once).
//
// It returns nil when woken, when *word != val on entry (the kernel's EAGAIN), or spuriously; it
// returns ErrTimeout when the timeout passed. A signal delivered to the thread (EINTR) is absorbed:
// the wait resumes with the time that remains. The word must be 4-byte aligned and must stay
// mapped for the duration of the call.
func Wait(word *uint32, val uint32, timeout time.Duration) error {
	if uintptr(unsafe.Pointer(word))&3 != 0 {
		return ErrUnaligned
	}
	if err := deadline.Check("futex: Wait", timeout); err != nil {
		return err
	}
	if timeout == 0 {
		return ErrTimeout
	}
	var until time.Time
	if timeout > 0 {
		until = time.Now().Add(timeout)
	}
	for {
		var tsp *unix.Timespec
		var ts unix.Timespec
		if timeout > 0 {
			left := time.Until(until)
			if left <= 0 {
				return ErrTimeout
			}
			ts = unix.NsecToTimespec(int64(left))
			tsp = &ts
		}
		// Syscall6, not RawSyscall: this call blocks, and the scheduler must hand the P away.
		_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), opWait,
			uintptr(val), uintptr(unsafe.Pointer(tsp)), 0, 0)
		runtime.KeepAlive(word)
		switch e {
		case 0, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		case unix.ETIMEDOUT:
			return ErrTimeout
		default:
			return e
		}
	}
}

// Wake wakes at most n waiters sleeping on word (n <= 0 wakes them all) and returns how many it
// woke. Waking is cheap when nobody sleeps (one syscall, no context switch), but callers on a hot
// path should track whether anyone waits and skip the call when nobody does.
func Wake(word *uint32, n int) (int, error) {
	if uintptr(unsafe.Pointer(word))&3 != 0 {
		return 0, ErrUnaligned
	}
	if n <= 0 || n > maxWakeAllCount {
		n = maxWakeAllCount
	}
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), opWake, uintptr(n), 0, 0, 0)
	runtime.KeepAlive(word)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// waitv mirrors struct futex_waitv.
type waitv struct {
	val      uint64
	uaddr    uint64
	flags    uint32
	reserved uint32
}

// WaitV sleeps until any one of the words no longer holds its value, at most timeout (Forever: no
// bound). It returns the index of the word whose wake-up ended the wait, or -1 with a nil error
// when some word already differed on entry (the caller must re-check them all). It returns
// ErrUnsupported on kernels before 5.16 and ErrTimeout when the time passed. At most MaxWaitV words.
func WaitV(words []WaitWord, timeout time.Duration) (int, error) {
	if len(words) == 0 || len(words) > MaxWaitV {
		return -1, unix.EINVAL
	}
	var vec [MaxWaitV]waitv
	for i, w := range words {
		if w.Word == nil || uintptr(unsafe.Pointer(w.Word))&3 != 0 {
			return -1, ErrUnaligned
		}
		vec[i] = waitv{val: uint64(w.Val), uaddr: uint64(uintptr(unsafe.Pointer(w.Word))), flags: futex2SizeU32}
	}
	if err := deadline.Check("futex: WaitV", timeout); err != nil {
		return -1, err
	}
	if timeout == 0 {
		return -1, ErrTimeout
	}
	var tsp *unix.Timespec
	var ts unix.Timespec
	if timeout > 0 {
		var now unix.Timespec
		if err := unix.ClockGettime(clockMonotonic, &now); err != nil {
			return -1, err
		}
		ts = unix.NsecToTimespec(now.Nano() + int64(timeout))
		tsp = &ts
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&vec[0])), uintptr(len(words)), 0,
			uintptr(unsafe.Pointer(tsp)), clockMonotonic, 0)
		runtime.KeepAlive(words)
		switch e {
		case 0:
			return int(r), nil
		case unix.EAGAIN:
			return -1, nil
		case unix.EINTR:
			continue // the absolute deadline needs no adjustment
		case unix.ETIMEDOUT:
			return -1, ErrTimeout
		case unix.ENOSYS:
			return -1, ErrUnsupported
		default:
			return -1, e
		}
	}
}

// Yield gives this thread's CPU to another runnable thread, of any process (sched_yield(2)). A
// waiter spinning on a peer's progress yields so that, on a machine with fewer free CPUs than
// busy threads, the peer it waits for gets to run; runtime.Gosched yields only to goroutines.
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
