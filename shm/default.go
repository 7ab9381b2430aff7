package shm

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultHeapSize is the size of the default heap's memfd unless SHMKIT_HEAP_SIZE (bytes) says
// otherwise: address space only, pages cost memory when first touched.
const DefaultHeapSize = 1 << 30

var defaultHeap struct {
	sync.Mutex
	h *Heap
}

// Default returns the process's default heap: the one inherited from the parent process if it
// had one when it started this process, or else one created now, an anonymous segment of
// DefaultHeapSize bytes (or SHMKIT_HEAP_SIZE). It lives as long as the process; every child
// started afterwards inherits it.
func Default() (*Heap, error) {
	defaultHeap.Lock()
	defer defaultHeap.Unlock()
	if defaultHeap.h != nil {
		return defaultHeap.h, nil
	}
	size := DefaultHeapSize
	if v := os.Getenv("SHMKIT_HEAP_SIZE"); v != "" {
		n, err := strconv.ParseInt(v, 0, 64)
		if err != nil || n < MinSize || n > MaxSize {
			return nil, fmt.Errorf("%w: SHMKIT_HEAP_SIZE=%q (want %d to %d)", ErrBadSize, v, MinSize, MaxSize)
		}
		size = int(n)
	}
	s, err := Create(size, nil)
	if err != nil {
		return nil, fmt.Errorf("shm: default heap: %w", err)
	}
	atomic.StoreUint32(s.u32(offFlags), flagDefault)
	defaultHeap.h = &Heap{seg: s}
	return defaultHeap.h, nil
}

// IsDefault reports whether s is some process's default heap (its header says so).
func (s *Segment) IsDefault() (yes bool) {
	if s.raw || s.closed.Load() {
		return false
	}
	guard(func() error { yes = atomic.LoadUint32(s.u32(offFlags))&flagDefault != 0; return nil })
	return yes
}

// adoptDefault makes s, an inherited segment, this process's default heap, if it has none yet and
// s is marked as one. Package proc has it called in a child for each inherited segment.
func adoptDefault(s *Segment) {
	if !s.IsDefault() {
		return
	}
	defaultHeap.Lock()
	defer defaultHeap.Unlock()
	if defaultHeap.h == nil {
		defaultHeap.h = &Heap{seg: s}
	}
}

// Alloc allocates from the default heap; see Heap.Alloc.
func Alloc(size int, kind Kind) (Ref, error) {
	h, err := Default()
	if err != nil {
		return Ref{}, err
	}
	return h.Alloc(size, kind)
}

// Free frees a Ref allocated from any heap this process has open; see Heap.Free.
func Free(ref Ref) error {
	s := Lookup(ref.Seg)
	if s == nil {
		return fmt.Errorf("%w: segment %#x is not open in this process", ErrBadRef, ref.Seg)
	}
	return (&Heap{seg: s}).Free(ref)
}
