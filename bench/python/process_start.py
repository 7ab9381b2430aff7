"""CPython baseline for BenchmarkProcessStart/python: multiprocessing.Process with an empty
target, started and joined, as shmkit's proc.Start + Wait of an empty registered target.

Usage: process_start.py N. Prints two numbers: the median nanoseconds per start+join with the
"fork" start method (over max(N, 20) rounds), and with "spawn" (a fresh interpreter, as shmkit
re-executes its binary; over max(N // 20, 5) rounds). Python's own start-up is not included.
"""
import multiprocessing as mp
import statistics
import sys
import time


def empty():
    pass


def median_start(ctx, rounds):
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        ts.append(time.perf_counter_ns() - t0)
        if p.exitcode != 0:
            print("child exited %d" % p.exitcode)
            sys.exit(1)
    return statistics.median(ts)


def main():
    n = int(sys.argv[1])
    fork = median_start(mp.get_context("fork"), max(n, 20))
    spawn = median_start(mp.get_context("spawn"), max(n // 20, 5))
    print(fork, spawn)


if __name__ == "__main__":
    main()
