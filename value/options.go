package value

import (
	"github.com/shmkit/shmkit/internal/opts"
	"github.com/shmkit/shmkit/shm"
)

// An Option configures a constructor (NewValue, NewArray, NewRawValue...). It is the same type
// as lock.Option: lock.In(h) and value.In(h) are interchangeable.
type Option = opts.Option

// In makes a constructor allocate its object in heap h instead of the process's default heap
// (which children inherit): value.NewArray[float64](n, value.In(h)).
func In(h *shm.Heap) Option { return opts.In(h) }

func heapFor(list []Option) (*shm.Heap, error) { return opts.Heap(list) }
