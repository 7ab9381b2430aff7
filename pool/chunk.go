package pool

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// A chunk is a run of consecutive items of one call, sent to one worker as one message. Its
// message is built once, with room for the header, which is filled in when the chunk is sent (the
// item ids are given then).
type chunk struct {
	s       sink
	name    string // the function's registered name
	index   int    // the index in its call of the first item
	n       int    // items
	msg     []byte // header, name, then the items, each a length u32 and its bytes
	first   uint64 // id of the first item, given when sent
	done    int    // items whose result came back (results come back in item order)
	attempt int    // the workers these items have been given to, this one included
	// bounces counts the workers in a row that died holding this chunk without starting its
	// first item: a chunk that no worker can start must fail, not go round for ever.
	bounces int
	// to is the worker the chunk was last sent to, which an Apply watching for the result reads
	// from (Pool.take).
	to atomic.Pointer[workerState]

	// A bulk chunk (see bulk.go) carries its arguments as one raw array, raw (asz bytes an item),
	// and not in msg; while it is with a worker, block holds them and the results (rsz bytes an
	// item), and errs the indices in the chunk of its items that failed, in order.
	bulk     bool
	raw      []byte
	asz, rsz int
	block    shm.Ref
	mem      []byte
	errs     []int
}

func newChunk(s sink, name string, index int) *chunk { return newChunkCap(s, name, index, 256) }

// newChunkCap is newChunk with room for capacity bytes of items, so that a chunk of known size
// is not copied as it grows.
func newChunkCap(s sink, name string, index, capacity int) *chunk {
	msg := make([]byte, chunkHeader, chunkHeader+len(name)+capacity)
	msg = append(msg, name...)
	return &chunk{s: s, name: name, index: index, msg: msg, attempt: 1}
}

// open starts an item, whose bytes the caller appends to c.msg, and returns where it starts;
// closeItem ends it (or drops it, on err).
func (c *chunk) open() int {
	at := len(c.msg)
	c.msg = append(c.msg, 0, 0, 0, 0)
	return at
}

func (c *chunk) closeItem(at int, err error) error {
	if err == nil && uint64(len(c.msg)-at-4) > 1<<32-1 {
		err = fmt.Errorf("an argument of %d bytes", len(c.msg)-at-4)
	}
	if err != nil {
		c.msg = c.msg[:at]
		return err
	}
	binary.LittleEndian.PutUint32(c.msg[at:], uint32(len(c.msg)-at-4))
	c.n++
	return nil
}

// seal fills the header for the ids from first on.
func (c *chunk) seal(first uint64) []byte {
	c.first, c.done = first, 0
	c.msg[0] = msgChunk
	binary.LittleEndian.PutUint64(c.msg[1:9], first)
	binary.LittleEndian.PutUint32(c.msg[9:13], uint32(c.n))
	binary.LittleEndian.PutUint16(c.msg[13:15], uint16(len(c.name)))
	return c.msg
}

// slice returns a new chunk of items [from, to) of c, for attempt number attempt.
func (c *chunk) slice(from, to, attempt int) *chunk {
	if c.bulk {
		return &chunk{s: c.s, name: c.name, index: c.index + from, n: to - from, attempt: attempt,
			bulk: true, raw: c.raw[from*c.asz : to*c.asz], asz: c.asz, rsz: c.rsz}
	}
	off := chunkHeader + len(c.name)
	for range from {
		off += 4 + int(binary.LittleEndian.Uint32(c.msg[off:]))
	}
	end := off
	for range to - from {
		end += 4 + int(binary.LittleEndian.Uint32(c.msg[end:]))
	}
	nc := newChunk(c.s, c.name, c.index+from)
	nc.msg = append(nc.msg, c.msg[off:end]...)
	nc.n, nc.attempt = to-from, attempt
	return nc
}

// autoChunk is the chunk size Python's Pool.map uses: divmod(n, 4*workers), rounded up, so that
// each worker gets about four chunks.
func autoChunk(n, workers int) int {
	if n == 0 {
		return 1
	}
	c, extra := n/(4*workers), n%(4*workers)
	if extra > 0 {
		c++
	}
	return c
}
