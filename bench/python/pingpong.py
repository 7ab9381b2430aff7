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


def event_round(ping, pong):
    ping.set()
    pong.wait()
    pong.clear()


def sem_round(ping, pong):
    ping.release()
    pong.acquire()


def queue_round(ping, pong):
    ping.put(b"ping")
    if pong.get() != b"ping":
        sys.exit("wrong message")


# kind: (make one of the pair, the child, wait for the child's "ready" on pong, one round trip)
KINDS = {
    "event": (mp.Event, event_child, lambda pong: (pong.wait(), pong.clear()), event_round),
    "sem": (lambda: mp.Semaphore(0), sem_child, lambda pong: pong.acquire(), sem_round),
    "queue": (mp.Queue, queue_child, lambda pong: pong.get(), queue_round),
}


def main():
    kind, n = sys.argv[1], max(int(sys.argv[2]), 2000)
    if kind not in KINDS:
        sys.exit("unknown kind %r" % kind)
    make, child, await_ready, round_trip = KINDS[kind]
    ping, pong = make(), make()
    p = mp.Process(target=child, args=(ping, pong, n))
    p.start()
    await_ready(pong)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        round_trip(ping, pong)
    elapsed = time.perf_counter_ns() - t0
    p.join()
    if p.exitcode != 0:
        sys.exit("child exited %d" % p.exitcode)
    print(elapsed / n)


if __name__ == "__main__":
    main()
