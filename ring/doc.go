// Package ring moves messages between processes through rings in shared memory: Queue (bytes),
// QueueOf[T] (typed), JoinableQueue, Pipe and its Conns, and Wait over several of them — what
// Python's multiprocessing.Queue, JoinableQueue, Pipe and connection.wait give, without a feeder
// thread, a pipe or pickling.
//
// # Rings
//
// A queue is one heap block: a header of index and futex words, each group on its own 64-byte
// cache line, and a data area of length-prefixed records that never straddle its end (a skip
// record pads to the end instead). Messages larger than a quarter of the ring are spilled to a
// heap block the record points to. Producers append at tail, consumers take at read and give the
// space back at head. A record is published by the position word in its own header, stored last,
// and consumers find records by it rather than by tail (producers mark the place after each
// record so that stale bytes never pass for a header); the producer reads head only when its
// cached copy says "full". With SingleProducer and SingleConsumer a message costs one release
// store on each side and no lock (internal/fence: a plain store on amd64; a side about to sleep
// first sleeps briefly and looks again, so that such a store cannot slip past it); otherwise
// producers and consumers each take a robust lock (a pid in a futex word, taken over from a dead
// owner) only around the index step, never around the copy. docs/ring.md has the layout and the
// protocol.
//
// # Blocking
//
// A call blocks only when the queue is empty (or full): it spins briefly, then yields, then
// sleeps on a futex word through a park.Gate, so 10,000 goroutines blocked in Get hold one OS
// thread. Wake-ups cost a system call only when someone sleeps. Every blocking call but
// PutBatch has a Timeout form (0: try once; Forever: no bound; a timeout matches ErrTimeout and names the
// call) and a Context form, which returns ctx.Err() when the context ends first.
//
// # Close and Shutdown
//
// Close is local, as in Python's multiprocessing: it says that this handle (this Queue, QueueOf,
// JoinableQueue or Conn value) will not be used again, and other handles on the same queue or
// pipe, in this process or another, go on working; calls on the closed handle return ErrClosed.
// Shutdown is global, as Python 3.13's queue.Queue.shutdown: it ends the queue (or pipe) for every
// process, waking every waiter with ErrShutdown (a Conn's Recv returns io.EOF).
//
// # Peer death and bad data
//
// A producer killed mid-Put leaves no partial message, and consumers skip its record after a
// liveness check (~50 ms); a consumer killed mid-Get leaves its message to be delivered to
// another consumer. Every index, length and state read from shared memory is validated: a
// corrupt ring gives an error wrapping ErrCorrupt, never a panic or an access out of bounds.
package ring
