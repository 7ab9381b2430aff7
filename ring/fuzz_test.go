package ring_test

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// Offsets in a queue's block (see layout.go); the tests write there as a hostile peer would.
const (
	offOwner = 32
	offTail  = 72
	offRead  = 136
	offHead  = 144
	offData  = 384
	offPLock = 64
	offCLock = 128
)

// corruptQueue fills a queue with a few messages (one spilled), applies writes (offset, value)
// to its block, and then drives it as a reader and a writer would. It returns the first error.
func corruptQueue(t *testing.T, opts ring.Options, writes []byte) error {
	// A segment of its own, closed at the end, so that what a corrupt ring leaks (a spilled
	// message it can no longer deliver) does not pile up over a million fuzz inputs until the
	// default heap is full and a Put waits for room forever.
	q := newPrivateQueue(t, &opts)
	ref := q.Ref()
	_, b, err := shm.Resolve(ref, ref.Kind)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{0, 5, 100, 33, 700, 2000, 1} {
		q.Put(msg(i, n))
	}
	q.Get() // move head and read off zero
	for len(writes) >= 10 {
		off := int(binary.LittleEndian.Uint16(writes)) % len(b) &^ 7
		v := binary.LittleEndian.Uint64(writes[2:])
		writes = writes[10:]
		if off == offPLock || off == offCLock {
			// A lock word naming a live process that never lets go looks like a slow owner:
			// waiting on it is correct. Only liveness-checked fields are fuzzed.
			continue
		}
		atomic.StoreUint64(shm.Word64(b, off), v)
	}
	var first error
	note := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	q2, err := ring.OpenQueue(ref)
	note(err)
	if err == nil {
		for i := 0; i < 20; i++ {
			_, _, err := q2.TryGet()
			note(err)
			_ = q2.Len()
			_ = q2.Empty()
			_ = q2.Full()
			_, err = q2.TryPut(msg(i, i*37%300))
			note(err)
		}
	}
	// Give the memory back as the creator would (the ring may be unusable: that is the point).
	for i := 0; i < 100; i++ {
		if _, ok, err := q.TryGet(); err != nil || !ok {
			break
		}
	}
	q.Free() // may fail on a corrupt ring; closing the segment returns everything
	return first
}

func put64(off int, v uint64) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(off))
	return binary.LittleEndian.AppendUint64(b, v)
}

var corruptions = []struct {
	name   string
	writes []byte
}{
	// A single producer that produced last keeps its own copy of tail and overwrites a corrupt
	// one at its next Put; clearing the owner word makes it read tail again, as a producer in
	// another process would.
	{"tail beyond capacity", append(put64(offTail, 1<<40), put64(offOwner, 0)...)},
	{"tail misaligned", append(put64(offTail, 1000003), put64(offOwner, 0)...)},
	{"head past tail", put64(offHead, 1<<20)},
	{"read past tail", put64(offRead, 1<<20)},
	{"record length huge", put64(offData+16+8, 0x7fffffff_00000000|0xffff_ff00_0000_0000)},
	{"record position wrong", put64(offData+16, 12345)},
	{"record state garbage", put64(offData+16+8, 0x0000000f_00000010)},
}

// Each corruption of indices or headers is reported as ErrCorrupt, in every mode.
func TestCorruptRing(t *testing.T) {
	for _, m := range modes {
		for _, c := range corruptions {
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				if c.name == "read past tail" && m.opts.SingleConsumer {
					return // a single consumer keeps its place in head; read is unused
				}
				err := corruptQueue(t, m.opts, c.writes)
				if !errors.Is(err, ring.ErrCorrupt) || !errors.Is(err, shm.ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
			})
		}
	}
}

// FuzzCorruptRing writes arbitrary words into a queue's shared memory: the queue may refuse to
// work, but it never panics, hangs or touches memory outside its block.
func FuzzCorruptRing(f *testing.F) {
	for _, c := range corruptions {
		f.Add(false, c.writes)
		f.Add(true, c.writes)
	}
	f.Add(false, append(put64(offData+8, 1<<32|5), put64(offTail, 48)...))
	f.Add(true, append(put64(offData+40, 0x30000), put64(offData+32, 32)...))
	f.Fuzz(func(t *testing.T, spsc bool, writes []byte) {
		opts := ring.Options{Size: 4096}
		if spsc {
			opts.SingleProducer, opts.SingleConsumer = true, true
		}
		corruptQueue(t, opts, writes)
	})
}

// The producer and consumer locks are internal/robust's mutex word: a word naming a dead
// process, or this process (left over: this process's goroutines take turns before the word), is
// taken over by the next Put or Get, which works and leaves the word free; a word with bits no
// process sets is ErrCorrupt, never a panic or a hang.
func TestLockWords(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := uint64(cmd.Process.Pid)
	const waiters = 1 << 22
	for _, off := range []int{offPLock, offCLock} {
		for _, c := range []struct {
			name    string
			word    uint64
			corrupt bool
		}{
			{"dead owner", dead, false},
			{"dead owner with waiters", dead | waiters, false},
			{"this process", uint64(os.Getpid()), false},
			{"waiters without owner", waiters, true},
			{"dead owner with a start time", 1<<31 | 1<<40 | dead, false},
			{"start time without owner", 1 << 32, true},
		} {
			q := newPrivateQueue(t, &ring.Options{Size: 4096})
			if err := q.Put([]byte("a")); err != nil {
				t.Fatal(err)
			}
			_, b, err := shm.Resolve(q.Ref(), q.Ref().Kind)
			if err != nil {
				t.Fatal(err)
			}
			w := shm.Word64(b, off)
			atomic.StoreUint64(w, c.word)
			var ok bool
			if off == offPLock {
				ok, err = q.TryPut([]byte("b"))
			} else {
				_, ok, err = q.TryGet()
			}
			if c.corrupt {
				if !errors.Is(err, ring.ErrCorrupt) || !errors.Is(err, shm.ErrCorrupt) {
					t.Errorf("%d %s: %v, want ErrCorrupt", off, c.name, err)
				}
				atomic.StoreUint64(w, 0)
				continue
			}
			if err != nil || !ok {
				t.Errorf("%d %s: ok %v, err %v", off, c.name, ok, err)
			}
			if v := atomic.LoadUint64(w); v != 0 {
				t.Errorf("%d %s: word %#x after the call", off, c.name, v)
			}
		}
	}
}
