// Package value gives Go programs typed values and arrays in shared memory: Python's
// multiprocessing.Value, Array, RawValue and RawArray, zero-copy, with a documented layout that
// other languages (Python's multiprocessing.shared_memory with struct or NumPy) can map.
//
// # Basics
//
//	num, _ := value.NewValue(0.0)                                // Value('d', 0.0)
//	arr, _ := value.NewArrayFrom([]int32{0, 1, 2, 3, 4, 5, 6, 7}) // Array('i', range(8))
//	p, _ := proc.Start(child, num, arr)                          // reach the child as Refs
//
// T is any pointer-free type: integers, floats, bools, complex numbers, and fixed-size arrays and
// structs of those. A T holding a pointer, slice, string, map, interface, channel or func is
// refused at construction with an error (ErrType) that names the offending field.
//
// Value[T] and Array[T] carry a lock (Python's lock=True): Locker returns it, Update holds it.
// RawValue[T] and RawArray[T] have none. Python takes the lock for every access; here atomic
// operations make that unnecessary, and the lock is left to the user:
//
//   - A Value of at most 8 bytes is one 64-bit word: Load, Store, Swap, CompareAndSwap, and Add
//     for integers, are single atomic instructions. A larger Value is double-buffered: writers
//     hold an internal write lock, readers take no lock, and no reader ever sees a torn value,
//     not even after a writer was killed mid-write.
//   - Array elements of 1, 2, 4 or 8 bytes (every Python typecode) are read and written with one
//     atomic operation each (At, Set), and changed by one compare-and-swap of the word holding
//     them (CompareAndSwap, Swap, and AddAt for integers). Larger elements need the lock.
//   - Update(fn) holds the lock around fn, for compound changes (Python's "with get_lock():").
//
// Add and AddAt are functions, not methods, because Go methods cannot have constraints of their
// own: value.Add(v, 1) compiles for a Value or RawValue of any integer type and for nothing else,
// so a misuse is a compile error rather than an error at run time.
//
// An index out of range makes At and Set panic, exactly as indexing a Go slice does (the same
// runtime error): it is a bug in the caller. Errors are for what shared memory holds.
//
// # Passing to other processes
//
// Values and Arrays implement shm.Shared: give them to proc.Start and the child's parameter of
// type *value.Value[T] (or *Array[T], ...) receives the same shared memory. A child rebuilds the
// object by its heap kind, one per element type ("value.Array[float64]"). The predeclared numeric
// types and bool are registered when the package loads; for other T (a struct), register it at
// package level, as proc targets are:
//
//	var _ = value.Register[Point]()
//
// A named Array or Value (NewNamedArray, NewNamedValue) lives in a segment /dev/shm/name of its
// own; any process attaches by name (OpenNamedArray), and Refs to it work as well.
//
// # Layout
//
// Every Value and Array is a heap block (see package shm) whose payload is a 64-byte header
// followed by the data. Words are little-endian (the host order on amd64 and arm64):
//
//	offset size field
//	     0    8 magic "SHMKVAL\x01"
//	     8    1 form: 1 Value, 2 Array
//	     9    1 typecode: Python's code for the element type ('d', 'i', ...; 0: none)
//	    10    1 flags: bit 0 has a lock, bit 1 double-buffered Value
//	    12    4 element size in bytes
//	    16    8 length in elements (1 for a Value)
//	    24    8 data offset, in bytes from the start of the segment (a multiple of 64)
//	    32   24 lock references (offset/64 and generation of each lock block, their kind)
//	    56    8 generation of a double-buffered Value (the current slot is generation & 1)
//	    64      data
//
// The data is C's layout of T[length]: elements back to back, each T laid out as Go lays out a
// struct, which on amd64 and arm64 is the C layout (natural alignment, the same padding). A named
// segment made by this package has its root object's payload offset as the uint64 at byte 40 of
// the segment (see shm); the Array's block is the segment's first, so its header is at byte 4160
// and its data at FirstDataOffset (4224), but a reader should follow the root and check the
// header. Opening validates the header against T and against the block and segment: an element
// size, typecode or form that differs from T's is ErrMismatch; a length or data offset that does
// not fit is ErrCorrupt. Nothing is read before it is validated.
//
// Python's typecodes, and the Go types they map onto on Linux amd64/arm64 ('l' and 'L', C longs,
// are 8 bytes there; '?' is struct's and ctypes' bool, which module array lacks):
//
//	'b' int8    'B' uint8    'h' int16   'H' uint16   'i' int32     'I' uint32   '?' bool
//	'l' int     'L' uint     'q' int64   'Q' uint64   'f' float32   'd' float64
//
// NewArrayCode and NewValueCode take a typecode (Python's Array('i', 10)) and check that it
// describes T; Typecode and CheckTypecode map between the two.
//
// # From Python
//
//	import struct
//	from multiprocessing import shared_memory, resource_tracker
//	shm = shared_memory.SharedMemory(name="temps")       # track=False on Python >= 3.13
//	resource_tracker.unregister(shm._name, "shared_memory")  # < 3.13: the segment is Go's
//	root, = struct.unpack_from("<Q", shm.buf, 40)
//	magic, form, code, flags, size, n, data = struct.unpack_from("<8sBBBxIQQ", shm.buf, root)
//	values = struct.unpack_from(f"<{n}{chr(code)}", shm.buf, data)
//	# or: numpy.ndarray((n,), dtype="<f8", buffer=shm.buf, offset=data)
//
// And the other way round: OpenForeignArray maps part of a segment that Python (or C) made as a
// RawArray, given its offset and length.
//
// # Caveats
//
//   - Slice returns a view of shared memory: valid until Free, or until the segment is closed
//     (Close for a named Array). Accesses through it are plain memory accesses; use At, Set or the
//     lock when another process is writing the same elements.
//   - A bool written by a non-Go peer as a byte other than 0 or 1 reads as true through Load and
//     At; through Slice it is a byte the Go compiler assumes is 0 or 1.
//   - Free a Value or Array once, when no process uses it; using it afterwards is undefined (the
//     memory may hold another object). A Ref to a freed object is refused (shm.ErrBadRef).
//   - The lock is not re-entrant: fn given to Update must not take the lock (Locker).
package value
