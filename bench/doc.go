// Package bench holds shmkit's benchmarks, each beside its baseline as a sibling sub-benchmark
// measured in the same run (Go channels and sync, pipes and unix sockets, os/exec, and Python's
// multiprocessing through python3 when it is installed). It has no code of its own; see
// docs/benchmarks.md for the results and the commands that produce them.
package bench
