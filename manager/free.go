package manager

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// free returns every block of the structure to the heap: entries, table, lock and header.
func (c *core) free(dict bool) error {
	if err := c.lockAll(context.Background(), true); err != nil {
		return err
	}
	var errs []error
	t, err := c.current(dict)
	if err == nil {
		for i := range t.slots {
			c.freeEntry(atomic.LoadUint64(&t.slots[i]))
		}
		errs = append(errs, c.freeTable(t.word))
	} else {
		errs = append(errs, err)
	}
	// The magic goes first: a handle that opens the header from now on is refused.
	atomic.StoreUint64(shm.Word64(c.hdr, hMagic), 0)
	for i := range c.st {
		errs = append(errs, c.st[i].lk.Unlock(), c.st[i].lk.Free())
	}
	errs = append(errs, c.heap.Free(c.ref))
	return errors.Join(errs...)
}
