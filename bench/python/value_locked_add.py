"""Baseline for BenchmarkLockContended/python and BenchmarkValueAdd/python: two processes add 1 to
a multiprocessing.Value of the given typecode under its lock, n additions in all. Python has no
atomic add: "with v.get_lock(): v.value += 1" is how Python programs do it.

Usage: value_locked_add.py N TYPECODE. Prints the nanoseconds per addition, from the moment both
workers are ready to the moment both have finished (process start-up excluded).
"""
import sys
import time
from multiprocessing import Barrier, Process, Value


def work(v, n, start):
    start.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def main():
    n = int(sys.argv[1])
    v = Value(sys.argv[2], 0)
    start = Barrier(3)
    half = n // 2
    ps = [Process(target=work, args=(v, half, start)),
          Process(target=work, args=(v, n - half, start))]
    for p in ps:
        p.start()
    start.wait()
    t0 = time.perf_counter_ns()
    for p in ps:
        p.join()
    elapsed = time.perf_counter_ns() - t0
    if v.value != n:
        print("lost updates: %d != %d" % (v.value, n))
        sys.exit(1)
    print(elapsed / n)


if __name__ == '__main__':
    main()
