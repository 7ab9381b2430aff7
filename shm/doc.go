// Package shm provides memory shared between processes: segments, a heap allocator inside them,
// and Refs, the form in which shared objects cross process boundaries.
//
// # Segments
//
// A [Segment] is a MAP_SHARED mapping of a file descriptor. There are two flavours:
//
//   - anonymous ([Create]): a memfd. Nothing to leak: the memory goes away when the last process
//     that maps it exits. It reaches child processes as an inherited descriptor (package proc does
//     this). Its size is sealed, so no peer can shrink it under a reader.
//   - named ([CreateNamed], [OpenNamed]): a file under /dev/shm, what shm_open(3) and Python's
//     multiprocessing.shared_memory use, so unrelated processes attach by name. It is created with
//     O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 unless asked otherwise, its pages reserved at creation
//     (a full /dev/shm fails there, not later with SIGBUS), and unlinked by its creator's Close.
//
// # Layout
//
// Every shmkit segment starts with a 4096-byte header; the heap's blocks follow it.
//
//	offset size field
//	     0    8 magic "SHMKIT\x00\x01" (stored last at creation: it publishes the header)
//	     8    4 layout version (3; version 1 had no creator start time, 2 no peer table and
//	            lock words without their owner's start time: both are refused, ErrVersion)
//	    12    4 header size (4096)
//	    16    8 segment size in bytes (must equal the file's size)
//	    24    8 segment id (random; identifies an anonymous segment across processes)
//	    32    4 creator pid
//	    36    4 flags (bit 0: named, bit 1: the process's default heap)
//	    40    8 root object: payload offset (0: none)
//	    48    4 root object: kind
//	    52    4 root object: generation
//	    56    8 heap: next unused byte (bump pointer)
//	    64    8 creator start time (clock ticks since boot, /proc/PID/stat field 22; 0: unknown)
//	   128 8×128 heap: free-list heads, one per size class: tag<<32 | block offset/64
//	  1280 3×128 heap: the free-list shards 1..3 of the 16 smallest classes, 16 heads each (heap.go)
//	  1664   8×4 heap: the process that claimed each shard: pid | start time<<22 (0: none)
//	  2048 8×256 peer table: pid | start time<<22 per attached process (see Segment.PeerAlive)
//	  4096      heap blocks: a 64-byte block header, then the payload
//
// Every word is little-endian (the host order on amd64 and arm64) and naturally aligned, and is
// read and written only with sync/atomic. [OpenNamed], and the adoption of an inherited segment in a child, validate the header
// against the file's real size before they touch anything else.
//
// # Trust
//
// Other processes can write everything in a segment. Offsets, sizes and block headers read from it
// are validated before use; what does not validate is an error wrapping [ErrCorrupt], never a
// panic or an access out of bounds. A named segment that a peer truncates after it was opened would
// make the next access to the lost pages fault (SIGBUS); heap operations run with
// debug.SetPanicOnFault and report such a fault as [ErrTruncated].
//
// # Lifetime
//
// Objects built in a segment refer into its mapping. Close a segment only when no object in it is
// used any more; the default heap ([Default]) lives as long as the process.
package shm
