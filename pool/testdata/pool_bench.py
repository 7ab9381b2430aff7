"""CPython baselines of pool/bench_test.go, with multiprocessing.Pool(2). Prints nanoseconds per
op, timed by this script without Python's own start-up:

  map N    Pool(2).map of x*x over 1..10,000,000, summed (N maps; the sum is checked)
  apply N  Pool(2).apply of one tiny task, N round trips
  start N  Pool(2) started, one apply, close(), join(); N times
"""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    what, n = sys.argv[1], max(int(sys.argv[2]), 1)
    if what == "start":
        t0 = time.perf_counter()
        for _ in range(n):
            p = mp.Pool(2)
            p.apply(square, (3,))
            p.close()
            p.join()
        print((time.perf_counter() - t0) * 1e9 / n)
        return
    with mp.Pool(2) as p:
        p.apply(square, (3,))  # the workers are up
        t0 = time.perf_counter()
        for _ in range(n):
            if what == "map":
                s = sum(p.map(square, range(1, 10_000_001)))
                assert s == 333333383333335000000, s
            else:
                assert p.apply(square, (3,)) == 9
        print((time.perf_counter() - t0) * 1e9 / n)


if __name__ == "__main__":
    main()
