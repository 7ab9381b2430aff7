"""CPython baseline of dist/bench_test.go: multiprocessing.managers.BaseManager serving a task
queue and a result queue over TCP with an authkey (the seed's task_master / task_worker), two
worker processes. Prints nanoseconds per op, timed by this script without Python's start-up or
the workers' and manager's start:

  tasks N      N tiny tasks (n * n) put, N results got: ns per task
  roundtrip N  one task put and its result got, N times in a row: ns per round trip

Standard library only.
"""
import multiprocessing as mp
import queue
import sys
import time
from multiprocessing.managers import BaseManager

AUTHKEY = b"abc"
task_q = queue.Queue()
result_q = queue.Queue()


def get_task_queue():
    return task_q


def get_result_queue():
    return result_q


class Master(BaseManager):
    pass


class Client(BaseManager):
    pass


Master.register("get_task_queue", callable=get_task_queue)
Master.register("get_result_queue", callable=get_result_queue)
Client.register("get_task_queue")
Client.register("get_result_queue")


def worker(address):
    m = Client(address=address, authkey=AUTHKEY)
    m.connect()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    while True:
        n = tasks.get()
        if n is None:
            return
        results.put(n * n)


def main():
    what, n = sys.argv[1], max(int(sys.argv[2]), 1)
    m = Master(address=("127.0.0.1", 0), authkey=AUTHKEY)
    m.start()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    ws = [mp.Process(target=worker, args=(m.address,)) for _ in range(2)]
    for w in ws:
        w.start()
    tasks.put(3)  # the workers are up
    assert results.get(timeout=30) == 9
    t0 = time.perf_counter()
    if what == "tasks":
        for i in range(n):
            tasks.put(i)
        total = 0
        for _ in range(n):
            total += results.get(timeout=60)
        assert total == sum(i * i for i in range(n)), total
    else:
        for _ in range(n):
            tasks.put(3)
            assert results.get(timeout=60) == 9
    ns = (time.perf_counter() - t0) * 1e9 / n
    for _ in ws:
        tasks.put(None)
    for w in ws:
        w.join()
    m.shutdown()
    print(ns)


if __name__ == "__main__":
    main()
