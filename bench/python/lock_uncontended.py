"""CPython baseline for BenchmarkLockUncontended/python: multiprocessing.Lock acquired and released
by one process, nobody else using it (a POSIX semaphore shared between processes, as shmkit's
lock.Lock is a futex word in shared memory).

Usage: lock_uncontended.py N. Prints the nanoseconds per acquire+release over max(N, 100000).
"""
import sys
import time
from multiprocessing import Lock


def main():
    n = max(int(sys.argv[1]), 100_000)
    lock = Lock()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    print((time.perf_counter_ns() - t0) / n)


if __name__ == "__main__":
    main()
