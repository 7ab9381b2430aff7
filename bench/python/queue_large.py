"""CPython baseline for BenchmarkQueueLarge/python: 64 MiB bytes objects through a
multiprocessing.Queue to a child, which checks each one's length (the queue pickles the message
and its feeder thread writes it into a pipe; the child reads and unpickles it).

Usage: queue_large.py N. Prints the nanoseconds per message over max(N, 3) of them, timed from
the first put to the child's last get (the child's start-up excluded).
"""
import multiprocessing as mp
import sys
import time

SIZE = 64 << 20


def consumer(q, n, ready):
    ready.set()
    for _ in range(n):
        if len(q.get()) != SIZE:
            sys.exit(1)


def main():
    n = max(int(sys.argv[1]), 3)
    q = mp.Queue(maxsize=2)  # as the Go twin's MaxMessages: 2
    ready = mp.Event()
    p = mp.Process(target=consumer, args=(q, n, ready))
    p.start()
    ready.wait()
    msg = b"\x01" * SIZE
    t0 = time.perf_counter_ns()
    for _ in range(n):
        q.put(msg)
    p.join()
    elapsed = time.perf_counter_ns() - t0
    if p.exitcode != 0:
        print("child exited %d" % p.exitcode)
        sys.exit(1)
    print(elapsed / n)


if __name__ == "__main__":
    main()
