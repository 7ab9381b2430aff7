"""Python's side of shmkit's value interop test (value/interop_test.go).

    interop.py read NAME CODE N      attach to a named Array that Go made, check its header and
                                     every element, write some back
    interop.py create NAME N         make a segment as a Python program would: N doubles at
                                     offset 0, then N int32s, for Go to attach with
                                     value.OpenForeignArray
    interop.py check NAME N          check what Go wrote into that segment

It uses multiprocessing.shared_memory and struct only; numpy too when it is installed. It prints
one line per check and exits non-zero on the first mismatch.
"""

import struct
import sys
from multiprocessing import resource_tracker, shared_memory

try:
    import numpy
except ImportError:
    numpy = None

# A shmkit segment: its root object's payload offset is the uint64 at byte 40.
ROOT_OFFSET = 40
# A Value/Array header (64 bytes) at that offset.
HEADER = struct.Struct("<8sBBBxIQQ")  # magic, form, typecode, flags, elemsize, length, data offset
MAGIC = b"SHMKVAL\x01"
FORM_ARRAY = 2


def attach(name):
    """Attach to an existing segment without letting Python's resource tracker adopt it.

    On Python < 3.13 SharedMemory registers every segment it opens with the resource tracker,
    which unlinks it (and warns about a "leak") when this process exits: the segment belongs to
    Go. track=False (3.13+) says so; before that, unregister by hand."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)
    except TypeError:
        shm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(shm._name, "shared_memory")
        return shm


def create(name, size):
    try:
        return shared_memory.SharedMemory(name=name, create=True, size=size, track=False)
    except TypeError:
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        resource_tracker.unregister(shm._name, "shared_memory")  # Go unlinks it
        return shm


def expected(code, i):
    # What Go stored in element i (see interop_test.go).
    return i * 0.5 - 3 if code == "d" else i * 3 - 7


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def read(name, code, n):
    shm = attach(name)
    try:
        buf = shm.buf
        (root,) = struct.unpack_from("<Q", buf, ROOT_OFFSET)
        magic, form, tc, flags, size, length, data = HEADER.unpack_from(buf, root)
        if magic != MAGIC or form != FORM_ARRAY:
            fail(f"header {magic!r} form {form}")
        if chr(tc) != code or size != struct.calcsize(code) or length != n:
            fail(f"typecode {chr(tc)!r} size {size} length {length}, want {code!r} {n}")
        if data % 64 != 0 or data + size * length > shm.size:
            fail(f"data offset {data} for {size * length} bytes in {shm.size}")
        print(f"header ok: typecode {chr(tc)!r}, {size}-byte elements, length {length}, data at {data}, flags {flags}")
        got = struct.unpack_from(f"<{length}{code}", buf, data)
        for i, x in enumerate(got):
            if x != expected(code, i):
                fail(f"element {i} = {x}, want {expected(code, i)}")
        print(f"struct: read all {length} elements")
        if numpy is not None:
            arr = numpy.ndarray((length,), dtype=numpy.dtype(code).newbyteorder("<"), buffer=buf, offset=data)
            if not all(arr[i] == expected(code, i) for i in range(length)):
                fail("numpy view differs")
            del arr
            print("numpy: view ok")
        # Write back: element i of the first ten becomes -(i+1) * 100.
        for i in range(min(10, length)):
            struct.pack_into(f"<{code}", buf, data + i * size, -(i + 1) * 100)
        print("wrote 10 elements")
        del buf
    finally:
        shm.close()


def make(name, n):
    shm = create(name, 8 * n + 4 * n + 3)  # + 3: a size that is not a multiple of 4
    buf = shm.buf
    struct.pack_into(f"<{n}d", buf, 0, *[i * 1.5 for i in range(n)])
    struct.pack_into(f"<{n}i", buf, 8 * n, *[-i for i in range(n)])
    del buf
    shm.close()
    print(f"created {name} of {shm.size} bytes: {n} doubles at 0, {n} int32 at {8 * n}")


def check(name, n):
    shm = attach(name)
    try:
        buf = shm.buf
        d = struct.unpack_from(f"<{n}d", buf, 0)
        i32 = struct.unpack_from(f"<{n}i", buf, 8 * n)
        for i in range(n):
            if d[i] != -i * 1.5 or i32[i] != i * 2:
                fail(f"element {i}: {d[i]}, {i32[i]}")
        print(f"checked {n} + {n} elements written by Go")
        del buf
    finally:
        shm.close()


def main():
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "read":
        read(name, sys.argv[3], int(sys.argv[4]))
    elif mode == "create":
        make(name, int(sys.argv[3]))
    elif mode == "check":
        check(name, int(sys.argv[3]))
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
