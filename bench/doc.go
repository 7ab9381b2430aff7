// Package bench holds shmkit's benchmarks, each beside its baseline as a sibling sub-benchmark
// measured in the same run (Go channels and sync, pipes and unix sockets, os/exec, and Python's
// multiprocessing through python3 when it is installed: the stdlib-only scripts in python/, each
// timing its own work). It has no code of its own. `go run ./cmd/shmbench -out DIR` runs these and
// every other package's benchmarks and makes the table, JSON and chart; docs/benchmarks.md has
// the results and what each baseline is.
package bench
