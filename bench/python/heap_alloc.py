"""CPython baseline for BenchmarkHeapAlloc/python: 64 bytes of shared memory allocated and freed,
as multiprocessing offers them: RawArray('B', 64) takes a block from multiprocessing's shared heap
(multiprocessing.heap, arenas of mmap'd memory under a lock) and gives it back when the array is
collected, which CPython's reference counting does at `del`.

Usage: heap_alloc.py N. Prints the nanoseconds per allocation and free, over max(N, 100000) of
them (the interpreter's start-up excluded).
"""
import sys
import time
from multiprocessing.sharedctypes import RawArray


def main():
    n = max(int(sys.argv[1]), 100_000)
    a = RawArray('B', 64)  # the first arena is mapped here, not in the timed loop
    del a
    t0 = time.perf_counter_ns()
    for _ in range(n):
        a = RawArray('B', 64)
        del a
    print((time.perf_counter_ns() - t0) / n)


if __name__ == "__main__":
    main()
