// Package chaos holds shmkit's chaos and soak suite, as tests only: real processes use a
// multi-producer multi-consumer ring.Queue, a lock.Lock guarding a counter, a manager.Dict and a
// pool.Pool while a killer SIGKILLs random ones at random moments and restarts them; at the end
// the suite checks that no committed message was lost or delivered twice, the counter is exact,
// the Dict holds no torn or lost value, nothing stayed blocked, no segment is left in /dev/shm
// and the heap got its blocks back. It prints what it did (kills, messages, recoveries, the
// worst recovery time) and each invariant it checked.
//
// In the normal test run it lasts a few seconds (-short: less). The soak is the same test for
// longer:
//
//	go test ./chaos -run TestChaos -v -timeout 45m -chaos.duration=30m -chaos.pace=1ms
//
// docs/reliability.md records the summary of such a run.
package chaos
