package lock

import "github.com/shmkit/shmkit/shm"

// An Option configures a constructor (NewLock, NewEvent, NewSemaphore...).
type Option func(*options)

type options struct {
	heap *shm.Heap
}

// In makes a constructor allocate its object in heap h instead of the process's default heap
// (which children inherit): lock.NewLock(lock.In(h)).
func In(h *shm.Heap) Option { return func(o *options) { o.heap = h } }

// heapFor returns the heap the options name, or the process's default heap.
func heapFor(opts []Option) (*shm.Heap, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.heap != nil {
		return o.heap, nil
	}
	return shm.Default()
}
