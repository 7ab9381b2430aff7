package lock

import (
	"github.com/shmkit/shmkit/internal/opts"
	"github.com/shmkit/shmkit/shm"
)

// An Option configures a constructor (NewLock, NewEvent, NewSemaphore...). It is the same type
// as value.Option: lock.In(h) and value.In(h) are interchangeable.
type Option = opts.Option

// In makes a constructor allocate its object in heap h instead of the process's default heap
// (which children inherit): lock.NewLock(lock.In(h)).
func In(h *shm.Heap) Option { return opts.In(h) }

// heapFor returns the heap the options name, or the process's default heap.
func heapFor(list []Option) (*shm.Heap, error) { return opts.Heap(list) }
