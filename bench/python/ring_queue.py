"""CPython baseline for BenchmarkQueueThroughput: 64-byte messages through multiprocessing.Queue
from this process to a child. Prints nanoseconds per message (timed from the first put to the
child's last get, without the child's start-up)."""
import multiprocessing as mp
import sys
import time


def consumer(q, n, ready):
    ready.set()
    for _ in range(n):
        q.get()


def main():
    n = max(int(sys.argv[1]), 20000)
    q = mp.Queue()
    ready = mp.Event()
    p = mp.Process(target=consumer, args=(q, n, ready))
    p.start()
    ready.wait()
    msg = b"x" * 64
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(msg)
    p.join()
    print((time.perf_counter() - t0) * 1e9 / n)


if __name__ == "__main__":
    main()
