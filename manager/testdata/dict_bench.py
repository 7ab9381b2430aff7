"""Baseline for BenchmarkDictGet/python and BenchmarkDictSet/python: CPython's Manager().dict()
holding 10,000 int keys, and two child processes calling get (or setting) through their proxies
at once, N calls each, as the shmkit benchmarks do with two processes.

Usage: dict_bench.py get|set N. Prints the nanoseconds per call in each process, from the moment
both workers are ready to the moment both have finished (process start-up excluded).
"""
import sys
import time
from multiprocessing import Barrier, Manager, Process

KEYS = 10000


def work(d, op, n, start, seed):
    start.wait()
    k = seed
    if op == "get":
        for _ in range(n):
            d.get(k % KEYS)
            k += 7
    else:
        for i in range(n):
            d[k % KEYS] = i
            k += 7


def main():
    op, n = sys.argv[1], int(sys.argv[2])
    with Manager() as m:
        d = m.dict({i: i for i in range(KEYS)})
        start = Barrier(3)
        ps = [Process(target=work, args=(d, op, n, start, s)) for s in (0, 1)]
        list(map(Process.start, ps))
        start.wait()
        t0 = time.perf_counter_ns()
        list(map(Process.join, ps))
        elapsed = time.perf_counter_ns() - t0
        if any(p.exitcode != 0 for p in ps):
            print("a worker failed")
            sys.exit(1)
    print(elapsed / n)


if __name__ == '__main__':
    main()
