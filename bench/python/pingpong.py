"""CPython baselines for the ping-pong benchmarks: a round trip between this process and a child,
with the multiprocessing object the Go twin uses, timed from the child's first answer to its last
(the start-up of Python and of the child excluded).

Usage: pingpong.py KIND N, with KIND one of
  event  BenchmarkEventPingPong/python: ping.set(), the child waits, clears it and sets pong,
         which this process waits for and clears (multiprocessing.Event, as lock.Event).
  sem    BenchmarkFutexPingPong/python: two multiprocessing.Semaphore(0), released and acquired
         in turn: CPython's lowest-level way to wake another process (sem_post/sem_wait, which
         glibc builds on a futex word, as the Go twin uses futex words directly).
  queue  BenchmarkQueuePingPong/python: a 4-byte message to the child and back through two
         multiprocessing.Queue.
Prints the nanoseconds per round trip over max(N, 2000) of them.
"""
import multiprocessing as mp
import sys
import time


def event_child(ping, pong, n):
    pong.set()  # ready
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def sem_child(ping, pong, n):
    pong.release()  # ready
    for _ in range(n):
        ping.acquire()
        pong.release()


def queue_child(ping, pong, n):
    pong.put(b"")  # ready
    for _ in range(n):
        pong.put(ping.get())


def main():
    kind, n = sys.argv[1], max(int(sys.argv[2]), 2000)
    if kind == "event":
        ping, pong = mp.Event(), mp.Event()
        p = mp.Process(target=event_child, args=(ping, pong, n))
        p.start()
        pong.wait()
        pong.clear()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ping.set()
            pong.wait()
            pong.clear()
    elif kind == "sem":
        ping, pong = mp.Semaphore(0), mp.Semaphore(0)
        p = mp.Process(target=sem_child, args=(ping, pong, n))
        p.start()
        pong.acquire()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ping.release()
            pong.acquire()
    elif kind == "queue":
        ping, pong = mp.Queue(), mp.Queue()
        p = mp.Process(target=queue_child, args=(ping, pong, n))
        p.start()
        pong.get()
        msg = b"ping"
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ping.put(msg)
            if pong.get() != msg:
                print("wrong message")
                sys.exit(1)
    else:
        print("unknown kind %r" % kind)
        sys.exit(2)
    elapsed = time.perf_counter_ns() - t0
    p.join()
    if p.exitcode != 0:
        print("child exited %d" % p.exitcode)
        sys.exit(1)
    print(elapsed / n)


if __name__ == "__main__":
    main()
