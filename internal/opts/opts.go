// Package opts is the one implementation of the constructor options that lock and value export
// (lock.Option, lock.In, value.Option, value.In are this package's type and function): a
// constructor allocates in the process's default heap unless an option names another.
package opts

import "github.com/shmkit/shmkit/shm"

// Option configures a constructor.
type Option func(*Options)

// Options is what the options set.
type Options struct {
	Heap *shm.Heap
}

// In makes a constructor allocate in heap h.
func In(h *shm.Heap) Option { return func(o *Options) { o.Heap = h } }

// Heap returns the heap the options name, or the process's default heap.
func Heap(list []Option) (*shm.Heap, error) {
	var o Options
	for _, opt := range list {
		if opt != nil {
			opt(&o)
		}
	}
	if o.Heap != nil {
		return o.Heap, nil
	}
	return shm.Default()
}
