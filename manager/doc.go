// Package manager holds Python's managed objects — Manager().dict(), .list(), .Namespace() —
// as structures in shared memory: Dict[K, V], List[T] and Namespace live in a shm heap, and every
// process that maps the heap reads and writes them directly, with no server process to proxy
// each operation or to die and take the data with it.
//
// Reads take no lock: elements are immutable heap blocks ("entries") published by one atomic
// store of a word naming them into a table, and a reader validates after reading that the word
// is unchanged (copy-on-write). Writes hold the structure's robust lock (package lock) and log
// what they are about to publish, so that a writer killed anywhere inside a write leaves no torn
// element and no held lock: the next writer takes the lock over and repairs from the log.
//
// Keys and values are encoded with internal/codec: raw memory for pointer-free fixed-size types
// (no allocation per operation), CBOR for the rest. A value may be the Ref of another shared
// object (a Dict, a List, a lock.Lock, a ring.Queue), so nested structures stay shared.
//
// Every structure reaches a child process as a start argument (proc.Start(target, d) with a
// *manager.Dict[K, V] parameter), or through its Ref and OpenDict, OpenList or OpenNamespace.
// Watch delivers a Dict's changes through a futex, without polling.
//
// See docs/manager.md for the design, the guarantees of each operation, what happens when each
// kind of peer dies, and measurements against sync.Map and CPython's Manager.
package manager
