"""Baseline for BenchmarkArrayScan/python: the sum of a 1M-element multiprocessing.RawArray('d')
(numpy too when it is installed, over the same shared memory).

Prints the median nanoseconds per scan with plain Python (sum over the array), and a second number,
numpy's, or -1 when numpy is not installed.
"""
import statistics
import sys
import time
from multiprocessing.sharedctypes import RawArray

try:
    import numpy
except ImportError:
    numpy = None


def median(f, rounds):
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t0)
    return statistics.median(ts)


def main():
    n = int(sys.argv[1])
    arr = RawArray('d', n)
    for i in range(n):
        arr[i] = i * 0.5
    want = sum(i * 0.5 for i in range(n))
    if sum(arr) != want:
        print("wrong sum")
        sys.exit(1)
    py = median(lambda: sum(arr), 5)
    np_ns = -1
    if numpy is not None:
        view = numpy.frombuffer(arr, dtype=numpy.float64)
        np_ns = median(lambda: view.sum(), 20)
    print(py, np_ns)


if __name__ == '__main__':
    main()
