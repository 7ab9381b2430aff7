package manager_test

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

// quad is a value writers keep with four equal fields: a reader that sees them differ has seen a
// torn value.
type quad struct{ A, B, C, D uint64 }

func q(v uint64) quad { return quad{v, v, v, v} }

var (
	_ = proc.Register(fillKeys)
	_ = proc.Register(checkKeys)
	_ = proc.Register(countUp)
	_ = proc.Register(churn)
)

// fillKeys sets n distinct keys of its own: "p<id>-<i>" = id*n+i.
func fillKeys(d *manager.Dict[string, int], id, n int) error {
	for i := range n {
		if err := d.Set(fmt.Sprintf("p%d-%d", id, i), id*n+i); err != nil {
			return err
		}
	}
	return nil
}

// checkKeys checks, from another process, that the keys of procs fillKeys children are all there.
func checkKeys(d *manager.Dict[string, int], procs, n int) error {
	if got := d.Len(); got != procs*n {
		return fmt.Errorf("Len %d, want %d", got, procs*n)
	}
	for id := range procs {
		for i := range n {
			k := fmt.Sprintf("p%d-%d", id, i)
			v, ok, err := d.Get(k)
			if err != nil || !ok || v != id*n+i {
				return fmt.Errorf("key %s: %d %v %v", k, v, ok, err)
			}
		}
	}
	items, err := d.Items()
	if err != nil {
		return err
	}
	if len(items) != procs*n {
		return fmt.Errorf("Items: %d, want %d", len(items), procs*n)
	}
	return nil
}

func countUp(d *manager.Dict[string, int], n int) error {
	for range n {
		if _, err := d.Update("counter", func(old int, _ bool) int { return old + 1 }); err != nil {
			return err
		}
	}
	return nil
}

func startAll(t *testing.T, target any, args ...[]any) []*proc.Process {
	t.Helper()
	var ps []*proc.Process
	for _, a := range args {
		p, err := proc.Start(target, a...)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	return ps
}

func joinOK(t *testing.T, ps ...*proc.Process) {
	t.Helper()
	for _, p := range ps {
		require.NoError(t, p.Join(proc.Forever))
		code, _ := p.ExitCode()
		require.Zero(t, code, "child %v", p)
	}
}

// Four processes set 10,000 distinct keys each at once; a fifth checks every one.
func TestDictFourWriters(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	d := newDict[string, int](t)
	var args [][]any
	for id := range 4 {
		args = append(args, []any{d, id, n})
	}
	joinOK(t, startAll(t, fillKeys, args...)...)
	joinOK(t, startAll(t, checkKeys, []any{d, 4, n})...)
	require.Equal(t, 4*n, d.Len())
}

// Update of one counter key from four processes at once ends exact.
func TestDictUpdateCounter(t *testing.T) {
	n := 5_000
	if testing.Short() {
		n = 1_000
	}
	d := newDict[string, int](t)
	joinOK(t, startAll(t, countUp, []any{d, n}, []any{d, n}, []any{d, n}, []any{d, n})...)
	v, ok, err := d.Get("counter")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 4*n, v)
	require.Zero(t, d.LockOwner())
}

// fillS is how many keys churn sets in s before it clears it: enough for the table to grow three
// times (from 64 slots) each round.
const fillS = 200

// churn writes to d and s forever, to be killed: it sets and deletes "hot" keys of d (values of
// four equal fields), inserts and deletes its own "grow" keys so that the table is rehashed
// often, and fills s (growing its table three times) and clears it. Word 0 of c counts its operations. With point > 0 it stops at
// the stop-th time a write reaches that hook point (inside the write, holding the lock), sets
// word 1 of c, and waits there to be killed.
func churn(d *manager.Dict[string, quad], s *manager.Dict[int, quad], c *testutil.Cell, seed, point, stop int) (err error) {
	stopAt(c, point, stop)
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	ops := c.W64(0)
	for n := uint64(0); ; n++ {
		switch k := r.IntN(64); r.IntN(5) {
		case 0:
			if _, err := d.Delete(fmt.Sprintf("hot%d", k)); err != nil {
				return err
			}
		case 1:
			if err := d.Set(fmt.Sprintf("grow%d-%d", seed, n%3000), q(n)); err != nil {
				return err
			}
			if n%3000 == 2999 {
				for i := range 3000 {
					if _, err := d.Delete(fmt.Sprintf("grow%d-%d", seed, i)); err != nil {
						return err
					}
				}
			}
		case 2:
			if n%50 == 0 {
				for i := range fillS {
					if err := s.Set(i, q(n)); err != nil {
						return err
					}
				}
				if err := s.Clear(); err != nil {
					return err
				}
			}
		default:
			if err := d.Set(fmt.Sprintf("hot%d", k), q(n)); err != nil {
				return err
			}
		}
		atomic.AddUint64(ops, 1)
	}
}

// stopAt makes this process's writes stop at the stop-th time they reach hook point (none when
// point is 0), set word 1 of c, and wait there to be killed.
func stopAt(c *testutil.Cell, point, stop int) {
	if point == 0 {
		return
	}
	hits := 0
	manager.SetTestHook(func(p int) {
		if p == point {
			if hits++; hits == stop {
				atomic.StoreUint64(c.W64(1), 1)
				select {}
			}
		}
	})
}

func checkWhole[K comparable](t *testing.T, kill int, d *manager.Dict[K, quad]) {
	t.Helper()
	items, err := d.Items()
	require.NoError(t, err)
	require.Equal(t, len(items), d.Len(), "kill %d: Len disagrees with Items", kill)
	for _, it := range items {
		v := it.Value
		if v.A != v.B || v.B != v.C || v.C != v.D {
			t.Fatalf("kill %d: %v torn: %+v", kill, it.Key, v)
		}
		got, ok, err := d.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, v, got)
	}
}

// Writers SIGKILLed inside Set, Delete, grows and Clear: at random moments, and stopped at each
// hook point inside a write (logged, published, half-filled grow, published grow, published
// Clear). Afterwards every stable key holds its value, every other key a whole value, Len agrees
// with Items, the lock is free once the survivor has written, and the survivor's writes go on.
func TestDictKillWriters(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 24
	}
	d := newDict[string, quad](t)
	s := newDict[int, quad](t)
	const stable = 500
	for i := range stable {
		require.NoError(t, d.Set(fmt.Sprintf("stable%d", i), q(uint64(i))))
	}
	c := testutil.NewCell(t, 64)
	r := rand.New(rand.NewPCG(1, 2))
	all0, table0, entry0 := manager.Repairs()
	var worst time.Duration
	var phased, tableKills, entryKills int
	for kill := range kills {
		point := kill % (manager.NumHookPoints + 1) // 0: a random moment
		atomic.StoreUint64(c.W64(1), 0)
		before := atomic.LoadUint64(c.W64(0))
		p, err := proc.Start(churn, d, s, c, kill, point, 1+r.IntN(3))
		require.NoError(t, err)
		if point == 0 {
			// Let it run a random number of operations (at least one), then kill it mid-stride.
			target := before + 1 + uint64(r.IntN(4000))
			require.True(t, testutil.Eventually(20*time.Second, func() bool {
				return atomic.LoadUint64(c.W64(0)) >= target || !p.IsAlive()
			}), "child made no progress")
			time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
		} else {
			require.True(t, testutil.Eventually(20*time.Second, func() bool {
				return atomic.LoadUint64(c.W64(1)) == 1 || !p.IsAlive()
			}), "child never reached hook point %d", point)
			phased++
			switch point {
			case manager.AtGrowFilling, manager.AtGrowPublished, manager.AtClearPublished:
				tableKills++
			case manager.AtEntryLogged, manager.AtEntryPublished:
				entryKills++
			}
		}
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(proc.Forever))
		if code, _ := p.ExitCode(); code != -9 {
			t.Fatalf("kill %d: child exited %d before the kill", kill, code)
		}

		// The survivor writes at once (taking the key's stripe over if the dead one held it), then
		// writes every stable key, which lie in every stripe: afterwards no stripe is held.
		start := time.Now()
		require.NoError(t, d.Set(fmt.Sprintf("stable%d", kill%stable), q(uint64(kill%stable))))
		require.NoError(t, s.Set(-1, q(uint64(kill))))
		worst = max(worst, time.Since(start))
		for i := range stable {
			require.NoError(t, d.Set(fmt.Sprintf("stable%d", i), q(uint64(i))))
		}
		for i := range 64 {
			require.NoError(t, s.Set(-2-i, q(uint64(kill))))
		}
		for i := range 64 {
			_, err := s.Delete(-2 - i)
			require.NoError(t, err)
		}
		// Every block of the header and of its stripes' locks is still live.
		_, err = manager.OpenDict[string, quad](d.Ref())
		require.NoError(t, err, "kill %d", kill)
		_, err = manager.OpenDict[int, quad](s.Ref())
		require.NoError(t, err, "kill %d", kill)
		require.Zero(t, d.LockOwner(), "a stripe still held after kill %d", kill)
		require.Zero(t, s.LockOwner(), "a stripe still held after kill %d", kill)

		for i := range stable {
			v, ok, err := d.Get(fmt.Sprintf("stable%d", i))
			require.NoError(t, err)
			require.True(t, ok, "kill %d: stable%d lost", kill, i)
			require.Equal(t, q(uint64(i)), v, "kill %d: stable%d", kill, i)
		}
		checkWhole(t, kill, d)
		checkWhole(t, kill, s)
		// s holds the survivor's key and what a fill had set; a Clear killed after its
		// publication leaves only the survivor's key.
		require.LessOrEqual(t, s.Len(), fillS+1, "kill %d", kill)
		if point == manager.AtClearPublished {
			require.Equal(t, 1, s.Len(), "kill %d: a published Clear was undone", kill)
		}
	}
	all, table, entry := manager.Repairs()
	t.Logf("%d kills (%d stopped at a hook point): %d repairs after a writer died holding the lock (%d mid-grow or mid-clear, %d mid-entry); slowest first write after a kill %v",
		kills, phased, all-all0, table-table0, entry-entry0, worst)
	require.GreaterOrEqual(t, all-all0, int64(phased), "a writer killed at a hook point holds the lock")
	require.GreaterOrEqual(t, table-table0, int64(tableKills), "grows and clears killed mid-way were repaired")
	require.GreaterOrEqual(t, entry-entry0, int64(entryKills), "entry writes killed mid-way were repaired")
}
