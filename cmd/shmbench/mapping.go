package main

// The data that turns sub-benchmark names into a table: which system each name measures, what
// each workload is, which metric is compared, and the targets the issues set. Add a baseline or a
// target here, not in the code that reads these tables. A benchmark or sub-benchmark named in none
// of them still gets its row.

// The systems, one column each in the table.
const (
	sysShmkit  = "shmkit"  // shmkit's own code
	sysGo      = "go"      // the Go baseline: a channel, sync, a slice, new, a goroutine
	sysOS      = "os"      // the OS baseline: pipes, unix sockets, os/exec
	sysPython  = "python"  // CPython's multiprocessing, timed by the script itself
	sysMachine = "machine" // what the hardware allows, no shmkit code (cache lines)
)

// columns is the order of the baseline columns.
var columns = []string{sysGo, sysOS, sysPython}

// subSystems maps a sub-benchmark's name to the system it measures. A name starting with
// "shmkit" is shmkit's (a variant: "shmkit-1MiB" is its own row); a name not listed here is a
// shmkit variant too, so that a new one shows up as a row rather than disappearing.
var subSystems = map[string]string{
	"chan":       sysGo,
	"sync.Mutex": sysGo,
	"atomic":     sysGo,
	"slice":      sysGo,
	"new":        sysGo,
	"goroutine":  sysGo,
	"serial":     sysGo,
	"syncmap":    sysGo,
	"memcpy":     sysGo,
	// QueueLarge: a second Go baseline, so a row of its own (against memcpy), beside /shmkit-get
	"memcpy-fresh": sysGo,
	"work":         sysGo, // QueueWakeup: the producer's work alone
	"pipe":         sysOS,
	"unixsock":     sysOS,
	"exec-true":    sysOS,
	"python":       sysPython,
	"idle/futex":   sysOS, // DictWatch: a bare futex wake between two processes, the floor
}

// benchSystems gives the system of a benchmark without sub-benchmarks that is not shmkit's.
var benchSystems = map[string]string{
	"BenchmarkCacheLinePingPong": sysMachine,
	"BenchmarkCacheLineStream":   sysMachine,
}

// metrics names the metric compared for a sub-benchmark whose ns/op is not the time of one op
// (the unit as benchfmt tidies it: ns/msg becomes sec/msg). Keys are "Benchmark/sub" or
// "Benchmark" for all of its sub-benchmarks. The default is sec/op.
var metrics = map[string]string{
	"BenchmarkQueueThroughput/python": "sec/msg",   // its ns/op includes Python's start-up
	"BenchmarkPoolWorkerDeath":        "sec/death", // ns/op also counts a task and a restart
	"BenchmarkDictWatch":              "median-us", // one-way delivery, half the median round trip
}

// workloads describes each row, by "Benchmark/sub" (or "Benchmark" for one without subs).
var workloads = map[string]string{
	"BenchmarkProcessStart/shmkit":            "process start+join (re-exec, empty target)",
	"BenchmarkHeapAlloc/shmkit":               "shared-heap alloc+free, 64 B",
	"BenchmarkFutexPingPong/shmkit":           "futex ping-pong, 2 processes, parking",
	"BenchmarkLockUncontended/shmkit":         "Lock+Unlock, uncontended",
	"BenchmarkLockContended/shmkit":           "increment under a Lock, 2 processes",
	"BenchmarkEventPingPong/shmkit":           "Event ping-pong, 2 processes",
	"BenchmarkValueAdd/shmkit":                "atomic add to a Value, 2 processes",
	"BenchmarkArrayScan/shmkit":               "sum of 1M float64, Array's Slice view",
	"BenchmarkArrayScan/at":                   "sum of 1M float64, Array.At per element",
	"BenchmarkQueueThroughput/shmkit":         "Queue 64 B msgs, SPSC, 64 MiB ring",
	"BenchmarkQueueThroughput/shmkit-1MiB":    "Queue 64 B msgs, SPSC, 1 MiB ring",
	"BenchmarkQueueThroughput/shmkit-default": "Queue 64 B msgs, NewQueue(nil): MPMC 256 KiB",
	"BenchmarkQueueThroughput/shmkit-batch16": "Queue 64 B msgs, SPSC 64 MiB, PutBatch of 16",
	"BenchmarkQueuePingPong/shmkit":           "Queue ping-pong, 2 processes",
	"BenchmarkQueueWakeup/shmkit":             "~45 µs work + Put to a sleeping consumer",
	"BenchmarkQueueLarge/shmkit":              "64 MiB msgs, GetAppend into a reused buffer",
	"BenchmarkQueueLarge/shmkit-get":          "64 MiB msgs, Get (a fresh buffer each)",
	"BenchmarkQueueLarge/shmkit-peek":         "64 MiB msgs, Peek+Release (zero-copy read)",
	"BenchmarkQueueLarge/memcpy-fresh":        "in-process copy of 64 MiB into a fresh slice",
	"BenchmarkPoolMapSquares/shmkit":          "Pool of 2: Map of x² over 10M",
	"BenchmarkPoolApply/shmkit":               "Pool of 2: Apply round trip",
	"BenchmarkPoolStart/shmkit":               "Pool of 2: start, one task, close, join",
	"BenchmarkPoolWorkerDeath":                "Pool: worker SIGKILL to its task's error",
	"BenchmarkDictGet/shmkit":                 "Dict Get, 2 processes, 10k keys",
	"BenchmarkDictSet/shmkit":                 "Dict Set, 2 processes, 10k keys",
	"BenchmarkDictWatch/pingpong":             "Dict Watch delivery, watcher spinning (µs)",
	"BenchmarkDictWatch/parked":               "Dict Watch delivery, watcher parked (µs)",
	"BenchmarkDictWatch/idle/watch":           "Dict Watch delivery, one way, watcher idle (µs)",
	"BenchmarkDictWatch/active/adaptive":      "Dict Watch delivery, one way, changes often (µs)",
	"BenchmarkDistPool/nats":                  "dist Pool on NATS: tiny tasks, one per message",
	"BenchmarkDistPool/nats-memory":           "dist Pool, one per message, streams in memory",
	"BenchmarkDistPool/nats-chunked":          "dist Pool on NATS: Map, default chunks",
	"BenchmarkDistPool/shmkit":                "local Pool of 2: Map, tiny tasks",
	"BenchmarkDistPoolRoundTrip/nats":         "dist Pool on NATS: Apply round trip",
	"BenchmarkDistPoolRoundTrip/nats-memory":  "dist Pool: Apply round trip, streams in memory",
	"BenchmarkDistPoolRoundTrip/shmkit":       "local Pool of 2: Apply round trip",
	"BenchmarkCacheLinePingPong":              "machine: cache-line round trip, 2 cores",
	"BenchmarkCacheLineStream":                "machine: 64 B lines streamed, 2 cores",
}

// A target is what an issue asked of one workload: a minimum speedup against a baseline column
// (speedup = the baseline's time / shmkit's time, so "within 3×" is 1/3 and "≥ 40% of memcpy's
// bandwidth" is 0.4), or, with Against empty, a maximum for the workload's own value.
type target struct {
	Workload string  // "Benchmark/sub"
	Against  string  // a baseline column (sysGo, sysOS, sysPython), or "" for an absolute bound
	Min      float64 // the least speedup that meets the target
	Max      float64 // with Against "": the largest value that meets it, in the metric's unit
	Issue    int     // the issue that set it
	Text     string  // the target as the issue says it
}

// targets: every target the issues set on a benchmark that exists.
var targets = []target{
	{"BenchmarkProcessStart/shmkit", sysOS, 1.0 / 4, 0, 2, "start+join within 4× of os/exec /bin/true"},
	{"BenchmarkProcessStart/shmkit", sysPython, 1, 0, 2, "faster than CPython's fork start"},
	{"BenchmarkHeapAlloc/shmkit", sysGo, 1.0 / 3, 0, 2, "alloc+free within 3× of Go's new"},
	{"BenchmarkLockUncontended/shmkit", sysGo, 1.0 / 2, 0, 3, "within 2× of sync.Mutex"},
	{"BenchmarkEventPingPong/shmkit", sysOS, 3, 0, 3, "≥ 3× faster than a pipe ping-pong"},
	{"BenchmarkLockContended/shmkit", sysPython, 50, 0, 3, "≥ 50× CPython's Value under its lock"},
	{"BenchmarkArrayScan/shmkit", sysGo, 1 / 1.1, 0, 4, "within 1.1× of a Go slice"},
	{"BenchmarkValueAdd/shmkit", sysGo, 1.0 / 2, 0, 4, "within 2× of sync/atomic"},
	{"BenchmarkQueueThroughput/shmkit", sysGo, 2, 0, 5, "≥ 2× a buffered Go channel"},
	{"BenchmarkQueueThroughput/shmkit", sysOS, 2, 0, 5, "≥ 2× a unix socket"},
	{"BenchmarkQueueThroughput/shmkit", sysPython, 200, 0, 5, "≥ 200× CPython's Queue"},
	{"BenchmarkQueuePingPong/shmkit", sysOS, 3, 0, 5, "≥ 3× faster than a pipe ping-pong"},
	{"BenchmarkQueueLarge/shmkit", sysGo, 0.4, 0, 5, "≥ 40% of memcpy's bandwidth"},
	{"BenchmarkPoolMapSquares/shmkit", sysPython, 20, 0, 12, "≥ 20× CPython's Pool.map"},
	{"BenchmarkPoolMapSquares/shmkit", sysGo, 1.0 / 3, 0, 12, "within 3× of the serial loop"},
	{"BenchmarkPoolApply/shmkit", sysPython, 20, 0, 12, "≥ 20× faster than CPython's apply"},
	{"BenchmarkPoolStart/shmkit", sysPython, 2, 0, 12, "≥ 2× faster than CPython's Pool start"},
	{"BenchmarkPoolWorkerDeath", "", 0, 5e-3, 12, "a worker's death → its task's error ≤ 5 ms"},
	{"BenchmarkDictGet/shmkit", sysGo, 1.0 / 3, 0, 13, "Get within 3× of sync.Map"},
	{"BenchmarkDictGet/shmkit", sysPython, 100, 0, 13, "≥ 100× CPython's Manager dict"},
	{"BenchmarkDictSet/shmkit", sysGo, 1.0 / 5, 0, 13, "Set within 5× of sync.Map"},
	{"BenchmarkDictSet/shmkit", sysPython, 100, 0, 13, "≥ 100× CPython's Manager dict"},
	{"BenchmarkDictWatch/parked", "", 0, 20, 13, "a Watch delivered in ≤ 20 µs median"},
	{"BenchmarkDictWatch/idle/watch", "", 0, 20, 13, "a Watch delivered in ≤ 20 µs median"},
	{"BenchmarkDistPool/nats-chunked", sysPython, 10, 0, 14, "≥ 10× CPython's BaseManager tasks/s"},
	{"BenchmarkDistPool/nats", sysPython, 10, 0, 14, "≥ 10× BaseManager tasks/s, one per message"},
	{"BenchmarkDistPoolRoundTrip/nats", sysPython, 5, 0, 14, "round trip ≥ 5× faster than BaseManager"},
}
