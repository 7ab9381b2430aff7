package chaos_test

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var (
	duration = flag.Duration("chaos.duration", 0, "how long the killer runs (0: 8s, 3s with -short)")
	pace     = flag.Duration("chaos.pace", 0, "a pause each process makes after each operation, to share a busy machine (0: none)")
)

// Words of the control cell (64-bit, index i at byte 8*i).
const (
	wStop       = 0 // 0 run; 1 producers, lockers and writers stop; 2 consumers drain and stop
	wNextID     = 1 // the last message id handed out
	wDelivered  = 2 // messages taken (progress of the consumers)
	wCount      = 3 // the counter under the lock
	wInside     = 4 // locker slot+1 inside the critical section, 0: none
	wViolations = 5 // a locker found another inside, the lock not recovered
	wLockRec    = 6 // takeovers of the lock from a dead holder
	wLockWorst  = 7 // the longest kill-to-takeover of the lock, ns
	wLockKillAt = 8 // when the killer last killed a locker, unix ns
	wJournal    = 9 // 1 + slot of a critical section in progress (0: none); then its targets
	wJCount     = 10
	wJMine      = 11
	wDups       = 12 // duplicate deliveries seen by consumers
	wTorn       = 13 // Dict values that failed their checksum
	wDictReads  = 14
	wMaps       = 15  // pool Maps completed
	wPace       = 120 // the pause after each operation, ns (-chaos.pace)
	wInFlight   = 16  // + producer slot: the id whose Put is under way
	wInHand     = 32  // + consumer slot: the id taken and not yet released
	wMine       = 48  // + locker slot: increments that locker committed
	wLastSet    = 64  // + writer slot: the last seq whose Set returned
	wSetting    = 80  // + writer slot: the seq whose Set is under way
	wDupList    = 128
	maxDups     = 256
	ctlWords    = wDupList + maxDups
)

const (
	producers = 2
	consumers = 2
	lockers   = 2
	writers   = 2
	keysPer   = 64 // Dict keys per writer
)

func word(c *testutil.Cell, i int) *uint64 { return c.W64(i) }

// paced makes the pause of -chaos.pace, if any.
func paced(ctl *testutil.Cell) {
	if d := load(ctl, wPace); d != 0 {
		time.Sleep(time.Duration(d))
	}
}

func load(c *testutil.Cell, i int) uint64 { return atomic.LoadUint64(c.W64(i)) }

// testBit and setBit work on a bitmap cell of message ids.
func setBit(b *testutil.Cell, id uint64) (was bool) {
	m := uint64(1) << (id % 64)
	return atomic.OrUint64(b.W64(int(id/64)), m)&m != 0
}

func testBit(b *testutil.Cell, id uint64) bool {
	return atomic.LoadUint64(b.W64(int(id/64)))&(1<<(id%64)) != 0
}

var (
	_ = proc.Register(producer)
	_ = proc.Register(consumer)
	_ = proc.Register(locker)
	_ = proc.Register(dictWriter)
	_ = pool.Register(square)
)

func square(x int) (int, error) { return x * x, nil }

// producer puts messages of fresh ids until told to stop; the id of each Put that returned is
// set in committed, after the Put and before the next one (so at most one Put is cut by a kill:
// the one whose id is in its in-flight word).
func producer(q *ring.Queue, ctl, committed *testutil.Cell, slot int) error {
	capIDs := uint64(len(committed.Bytes())) * 8
	buf := make([]byte, 8, 8+256)
	for load(ctl, wStop) == 0 {
		id := atomic.AddUint64(word(ctl, wNextID), 1)
		if id >= capIDs {
			time.Sleep(10 * time.Millisecond) // the bitmaps are full: idle until the end
			continue
		}
		atomic.StoreUint64(word(ctl, wInFlight+slot), id)
		binary.LittleEndian.PutUint64(buf[:8], id)
		msg := buf[:8+int(id%200)]
		if err := q.Put(msg); err != nil {
			return fmt.Errorf("producer %d: Put %d: %w", slot, id, err)
		}
		setBit(committed, id)
		atomic.StoreUint64(word(ctl, wInFlight+slot), 0)
		paced(ctl)
	}
	return nil
}

// consumer takes messages with Peek and Release until told to drain and the queue is empty. It
// marks each message delivered between the two, with its id in its in-hand word: a consumer killed
// after marking and before releasing has its message delivered again to another, which is the one
// duplicate the check allows (the id is in the dead consumer's in-hand word).
func consumer(q *ring.Queue, ctl, delivered *testutil.Cell, slot int) error {
	for {
		m, err := q.PeekTimeout(50 * time.Millisecond)
		if errors.Is(err, ring.ErrTimeout) {
			if load(ctl, wStop) == 2 && q.Len() == 0 {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("consumer %d: Peek: %w", slot, err)
		}
		b := m.Bytes()
		if len(b) < 8 {
			return fmt.Errorf("consumer %d: a %d-byte message", slot, len(b))
		}
		id := binary.LittleEndian.Uint64(b)
		if len(b) != 8+int(id%200) {
			return fmt.Errorf("consumer %d: message %d has %d bytes, want %d", slot, id, len(b), 8+id%200)
		}
		atomic.StoreUint64(word(ctl, wInHand+slot), id)
		if setBit(delivered, id) {
			if n := atomic.AddUint64(word(ctl, wDups), 1); n <= maxDups {
				atomic.StoreUint64(word(ctl, wDupList+int(n-1)), id)
			}
		}
		atomic.AddUint64(word(ctl, wDelivered), 1)
		if err := m.Release(); err != nil {
			return fmt.Errorf("consumer %d: Release: %w", slot, err)
		}
		atomic.StoreUint64(word(ctl, wInHand+slot), 0)
		paced(ctl)
	}
}

// locker increments the counter under the Lock until told to stop. The critical section writes a
// journal (slot, the counter's and its own tally's new values) before it changes them and clears
// it after; a locker that takes the Lock over from a dead holder rolls the dead one's journal
// forward. So the counter always equals the sum of the tallies, and the check is exact.
func locker(l *lock.Lock, ctl *testutil.Cell, slot int) error {
	for load(ctl, wStop) == 0 {
		err := l.Do(func(ownerDied bool) error {
			if ownerDied {
				atomic.AddUint64(word(ctl, wLockRec), 1)
				if at := int64(load(ctl, wLockKillAt)); at > 0 {
					d := uint64(time.Now().UnixNano() - at)
					for {
						w := load(ctl, wLockWorst)
						if d <= w || atomic.CompareAndSwapUint64(word(ctl, wLockWorst), w, d) {
							break
						}
					}
				}
				if j := load(ctl, wJournal); j != 0 {
					atomic.StoreUint64(word(ctl, wCount), load(ctl, wJCount))
					atomic.StoreUint64(word(ctl, wMine+int(j-1)), load(ctl, wJMine))
					atomic.StoreUint64(word(ctl, wJournal), 0)
				}
				atomic.StoreUint64(word(ctl, wInside), 0)
			}
			if in := load(ctl, wInside); in != 0 {
				atomic.AddUint64(word(ctl, wViolations), 1) // someone else is inside
			}
			atomic.StoreUint64(word(ctl, wInside), uint64(slot+1))
			paced(ctl) // the pause is taken holding the Lock, so kills land in the section
			atomic.StoreUint64(word(ctl, wJCount), load(ctl, wCount)+1)
			atomic.StoreUint64(word(ctl, wJMine), load(ctl, wMine+slot)+1)
			atomic.StoreUint64(word(ctl, wJournal), uint64(slot+1)) // the commit point
			atomic.StoreUint64(word(ctl, wCount), load(ctl, wJCount))
			atomic.StoreUint64(word(ctl, wMine+slot), load(ctl, wJMine))
			atomic.StoreUint64(word(ctl, wJournal), 0)
			atomic.StoreUint64(word(ctl, wInside), 0)
			return nil
		})
		if err != nil {
			return fmt.Errorf("locker %d: %w", slot, err)
		}
	}
	return nil
}

// val is a Dict value whose fields check each other, so a torn value shows.
type val struct{ Slot, Seq, Sum uint64 }

func mix(slot, seq uint64) uint64 { return (slot*0x9e3779b97f4a7c15 ^ seq) * 0xbf58476d1ce4e5b9 }

// dictWriter sets its keys in turn (seq modulo keysPer), recording each seq whose Set returned; a
// new incarnation goes on from the last recorded seq, redoing a Set cut by the kill, so the final
// values are exact — but for a cut Set that no incarnation redid (the run stopped first), whose
// seq stays in the writer's in-flight word: its key may hold the old value or the new one. It also
// reads random keys of every writer and counts values that fail their checksum.
func dictWriter(d *manager.Dict[uint32, val], ctl *testutil.Cell, slot int) error {
	seq := load(ctl, wLastSet+slot)
	for load(ctl, wStop) == 0 {
		seq++
		key := uint32(slot*keysPer) + uint32(seq%keysPer)
		atomic.StoreUint64(word(ctl, wSetting+slot), seq)
		if err := d.Set(key, val{uint64(slot), seq, mix(uint64(slot), seq)}); err != nil {
			return fmt.Errorf("writer %d: Set: %w", slot, err)
		}
		atomic.StoreUint64(word(ctl, wLastSet+slot), seq)
		v, ok, err := d.Get(uint32(rand.IntN(writers * keysPer)))
		if err != nil {
			return fmt.Errorf("writer %d: Get: %w", slot, err)
		}
		atomic.AddUint64(word(ctl, wDictReads), 1)
		if ok && v.Sum != mix(v.Slot, v.Seq) {
			atomic.AddUint64(word(ctl, wTorn), 1)
		}
		paced(ctl)
	}
	return nil
}

// A member is one process of the suite, restarted after each kill.
type member struct {
	role string
	slot int
	fn   any
	args []any
	p    *proc.Process
	inc  int // incarnations started
}

type stats struct {
	kills        map[string]int
	restarts     int
	worst        time.Duration
	worstRole    string
	recoveries   []time.Duration
	cutPuts      []uint64 // in-flight ids of killed producers
	killedInHand []uint64 // in-hand ids of killed consumers
}

func TestChaos(t *testing.T) {
	d := *duration
	if d == 0 {
		d = 8 * time.Second
		if testing.Short() {
			d = 3 * time.Second
		}
	}
	shmBefore := testutil.ShmFiles()
	name := testutil.ShmName(t)
	seg, err := shm.CreateNamed(name, 64<<20, &shm.Options{Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	segClosed := false
	t.Cleanup(func() {
		if !segClosed {
			seg.Close()
		}
	})
	heap, err := seg.Heap()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ring.NewQueue(&ring.Options{Size: 64 << 10, Heap: heap})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.NewLock(lock.In(heap))
	if err != nil {
		t.Fatal(err)
	}
	dict, err := manager.NewDict[uint32, val](manager.In(heap))
	if err != nil {
		t.Fatal(err)
	}
	bitmap := 1 << 20 // 8M message ids
	if d > time.Minute {
		bitmap = 64 << 20
	}
	ctl := testutil.NewCell(t, 8*ctlWords)
	committed := testutil.NewCell(t, bitmap)
	delivered := testutil.NewCell(t, bitmap)
	atomic.StoreUint64(word(ctl, wPace), uint64(*pace))

	var members []*member
	for i := range producers {
		members = append(members, &member{role: "producer", slot: i, fn: producer, args: []any{q, ctl, committed, i}})
	}
	for i := range consumers {
		members = append(members, &member{role: "consumer", slot: i, fn: consumer, args: []any{q, ctl, delivered, i}})
	}
	for i := range lockers {
		members = append(members, &member{role: "locker", slot: i, fn: locker, args: []any{l, ctl, i}})
	}
	for i := range writers {
		members = append(members, &member{role: "dict writer", slot: i, fn: dictWriter, args: []any{dict, ctl, i}})
	}
	start := func(m *member) {
		p, err := proc.Start(m.fn, m.args...)
		if err != nil {
			t.Fatalf("start %s %d: %v", m.role, m.slot, err)
		}
		m.p, m.inc = p, m.inc+1
	}
	for _, m := range members {
		start(m)
	}
	t.Cleanup(func() { // on a failure: leave no child behind
		for _, m := range members {
			if m.p.IsAlive() {
				m.p.Kill()
				m.p.Join(proc.Forever)
			}
		}
	})

	p, err := pool.New(&pool.Options{Workers: 2, Retries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	poolDone := make(chan error, 1)
	var poolStop atomic.Bool
	go func() {
		items := make([]int, 32)
		for i := range items {
			items[i] = i
		}
		for !poolStop.Load() {
			out, err := pool.Map(p, square, items, pool.ChunkSize(4))
			if err != nil {
				poolDone <- fmt.Errorf("pool Map: %w", err)
				return
			}
			for i, v := range out {
				if v != i*i {
					poolDone <- fmt.Errorf("pool Map: item %d = %d", i, v)
					return
				}
			}
			atomic.AddUint64(word(ctl, wMaps), 1)
			time.Sleep(*pace)
		}
		poolDone <- nil
	}()

	ours := func(pid int) bool {
		for _, m := range members {
			if m.p.Pid() == pid {
				return true
			}
		}
		return false
	}
	progress := map[string]int{"producer": wNextID, "consumer": wDelivered, "locker": wCount,
		"dict writer": wLastSet, "pool worker": wMaps}
	progressOf := func(role string) uint64 {
		if role == "dict writer" {
			return load(ctl, wLastSet) + load(ctl, wLastSet+1)
		}
		return load(ctl, progress[role])
	}

	st := stats{kills: map[string]int{}}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	t.Logf("chaos: %d producers, %d consumers, %d lockers, %d dict writers, 2 pool workers, for %v (pace %v)", producers, consumers, lockers, writers, d, *pace)
	end := time.Now().Add(d)
	lastReport := time.Now()
	for time.Now().Before(end) {
		time.Sleep(time.Duration(5+rng.IntN(200)) * time.Millisecond)
		var role string
		var victim *member
		var poolPid int
		if k := rng.IntN(len(members) + 2); k < len(members) {
			victim, role = members[k], members[k].role
		} else {
			role = "pool worker"
			var cands []int
			for _, c := range proc.ActiveChildren() {
				if !ours(c.Pid()) {
					cands = append(cands, c.Pid())
				}
			}
			if len(cands) == 0 {
				continue
			}
			poolPid = cands[rng.IntN(len(cands))]
		}
		before := progressOf(role)
		killAt := time.Now()
		if role == "locker" {
			atomic.StoreUint64(word(ctl, wLockKillAt), uint64(killAt.UnixNano()))
		}
		if victim != nil {
			if !victim.p.IsAlive() {
				t.Fatalf("%s %d ended by itself: %v", role, victim.slot, victim.p.Wait())
			}
			if err := victim.p.Kill(); err != nil {
				t.Fatal(err)
			}
			err := victim.p.WaitTimeout(30 * time.Second)
			var ee *proc.ExitError
			if !errors.As(err, &ee) || ee.Code != -int(syscall.SIGKILL) {
				t.Fatalf("%s %d: ended with %v, want the kill", role, victim.slot, err)
			}
			switch role {
			case "producer":
				if id := load(ctl, wInFlight+victim.slot); id != 0 {
					st.cutPuts = append(st.cutPuts, id)
				}
			case "consumer":
				if id := load(ctl, wInHand+victim.slot); id != 0 {
					st.killedInHand = append(st.killedInHand, id)
				}
				atomic.StoreUint64(word(ctl, wInHand+victim.slot), 0)
			}
			start(victim)
			st.restarts++
		} else if err := syscall.Kill(poolPid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			t.Fatal(err)
		}
		st.kills[role]++
		// Recovery: the kind of process killed makes progress again (the survivors, or the
		// restarted one). Bounded: a survivor blocked for good fails the test here.
		for progressOf(role) == before {
			if time.Since(killAt) > time.Minute {
				t.Fatalf("no %s progress for a minute after a kill: blocked", role)
			}
			time.Sleep(200 * time.Microsecond)
		}
		rec := time.Since(killAt)
		st.recoveries = append(st.recoveries, rec)
		if rec > st.worst {
			st.worst, st.worstRole = rec, role
		}
		if time.Since(lastReport) > time.Minute {
			lastReport = time.Now()
			t.Logf("chaos: %v left: kills %v, messages %d, counter %d, dict sets %d, pool maps %d",
				time.Until(end).Round(time.Second), st.kills, load(ctl, wDelivered), load(ctl, wCount),
				load(ctl, wLastSet)+load(ctl, wLastSet+1), load(ctl, wMaps))
		}
	}

	// The killer has stopped: everything must end within a bound.
	stopAt := time.Now()
	const bound = 60 * time.Second
	atomic.StoreUint64(word(ctl, wStop), 1)
	poolStop.Store(true)
	waitAll := func(role string) {
		for _, m := range members {
			if m.role == role {
				if err := m.p.WaitTimeout(bound); err != nil {
					t.Fatalf("%s %d after the killer stopped: %v (blocked or failed)", role, m.slot, err)
				}
			}
		}
	}
	waitAll("producer")
	waitAll("locker")
	waitAll("dict writer")
	atomic.StoreUint64(word(ctl, wStop), 2)
	waitAll("consumer")
	select {
	case err := <-poolDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(bound):
		t.Fatal("pool Map still running a minute after the killer stopped: blocked")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(); err != nil {
		t.Fatalf("pool Join: %v", err)
	}
	settle := time.Since(stopAt)
	if q.Len() != 0 {
		t.Errorf("the queue holds %d messages after the consumers drained it", q.Len())
	}

	// Invariant 1: every committed message delivered exactly once.
	last := load(ctl, wNextID)
	capIDs := uint64(bitmap) * 8
	if last >= capIDs {
		last = capIDs - 1
	}
	cut := map[uint64]bool{}
	for _, id := range st.cutPuts {
		cut[id] = true
	}
	var nCommitted, nDelivered, lost, phantom, cutDelivered uint64
	for id := uint64(1); id <= last; id++ {
		c, dl := testBit(committed, id), testBit(delivered, id)
		if c {
			nCommitted++
		}
		if dl {
			nDelivered++
		}
		switch {
		case c && !dl:
			lost++
		case dl && !c && !cut[id]:
			phantom++
		case dl && !c:
			cutDelivered++
		}
	}
	dups := load(ctl, wDups)
	allowed := slices.Clone(st.killedInHand)
	badDups := 0
	if dups > maxDups {
		badDups = int(dups)
	} else {
		for i := range int(dups) {
			id := load(ctl, wDupList+i)
			if k := slices.Index(allowed, id); k >= 0 {
				allowed = slices.Delete(allowed, k, k+1)
			} else {
				badDups++
			}
		}
	}
	check := func(ok bool, format string, args ...any) {
		if ok {
			t.Logf("chaos: invariant held: "+format, args...)
		} else {
			t.Errorf("chaos: INVARIANT BROKEN: "+format, args...)
		}
	}
	check(lost == 0 && phantom == 0 && badDups == 0,
		"messages: %d committed, %d delivered, %d lost, %d delivered without a committed or cut Put, %d cut Puts delivered (at most once), %d redeliveries after a consumer died in hand (allowed), %d other duplicates",
		nCommitted, nDelivered, lost, phantom, cutDelivered, int(dups)-badDups, badDups)

	// Invariant 2: the counter is exact.
	var sum uint64
	for i := range lockers {
		sum += load(ctl, wMine+i)
	}
	count := load(ctl, wCount)
	check(count == sum && load(ctl, wViolations) == 0 && load(ctl, wJournal) == 0,
		"counter: %d = sum of the lockers' committed increments %d; %d mutual-exclusion violations; %d takeovers of the lock, worst kill-to-takeover %v",
		count, sum, load(ctl, wViolations), load(ctl, wLockRec), time.Duration(load(ctl, wLockWorst)))

	// Invariant 3: every Dict key holds the last value its writer committed, none torn.
	wrong, cutSets := 0, 0
	for s := range writers {
		lastSeq := load(ctl, wLastSet+s)
		cutSeq := load(ctl, wSetting+s) // a Set cut by a kill and not redone, if > lastSeq
		for k := range uint64(keysPer) {
			key := uint32(s*keysPer) + uint32(k)
			v, ok, err := dict.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			var want uint64 // the largest seq <= lastSeq with seq % keysPer == k (0: none)
			if lastSeq >= k && (k != 0 || lastSeq >= keysPer) {
				want = lastSeq - (lastSeq-k)%keysPer
			}
			if want == 0 {
				if ok {
					wrong++
				}
				continue
			}
			if cutSeq == lastSeq+1 && cutSeq%keysPer == k && ok && v == (val{uint64(s), cutSeq, mix(uint64(s), cutSeq)}) {
				cutSets++ // the cut Set landed: the new value, whole
				continue
			}
			if !ok || v != (val{uint64(s), want, mix(uint64(s), want)}) {
				wrong++
				t.Logf("chaos: key %d: %+v (present %v), want seq %d", key, v, ok, want)
			}
		}
	}
	check(wrong == 0 && load(ctl, wTorn) == 0 && dict.Len() <= writers*keysPer,
		"dict: %d keys, each with its writer's last committed value or, for a Set cut by the last kill and not redone, the new one (%d such, %d wrong); %d reads during the run, %d torn",
		dict.Len(), cutSets, wrong, load(ctl, wDictReads), load(ctl, wTorn))

	// Invariant 4: nothing blocked.
	check(settle < bound, "no process blocked: all %d processes and the pool ended %v after the killer stopped",
		len(members), settle.Round(time.Millisecond))

	// Invariant 5: the heap got its blocks back once the objects are freed.
	_, before, _ := seg.Blocks()
	for _, free := range []func() error{q.Free, l.Free, dict.Free} {
		if err := free(); err != nil {
			t.Fatal(err)
		}
	}
	blocks, after, err := seg.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, b := range blocks {
		if b.Used {
			left = append(left, fmt.Sprintf("%v@%d", b.Kind, b.Off))
		}
	}
	// A writer killed between an Alloc and its log may leak one block (manager.Dict's documented
	// bound); nothing else may stay.
	check(after.Used <= st.kills["dict writer"] && after.Unwalked == 0,
		"heap: %d blocks in use before the objects were freed, %d after (%v; at most one per killed dict writer, %d), %d bytes unwalkable",
		before.Used, after.Used, left, st.kills["dict writer"], after.Unwalked)

	// Invariant 6: no segment left in /dev/shm.
	segClosed = true
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	leaked := []string{}
	for _, f := range testutil.ShmFiles() {
		if !slices.Contains(shmBefore, f) {
			leaked = append(leaked, f)
		}
	}
	_, statErr := os.Stat(shm.DevShm + "/" + name)
	check(len(leaked) == 0 && errors.Is(statErr, os.ErrNotExist), "no segment leaked in /dev/shm (%v)", leaked)

	slices.Sort(st.recoveries)
	var median time.Duration
	if n := len(st.recoveries); n > 0 {
		median = st.recoveries[n/2]
	}
	total := 0
	for _, n := range st.kills {
		total += n
	}
	t.Logf("chaos: ran %v: %d kills %v, %d restarts; %d messages delivered, counter %d, %d dict sets, %d pool maps",
		d, total, st.kills, st.restarts, nDelivered, count, load(ctl, wLastSet)+load(ctl, wLastSet+1), load(ctl, wMaps))
	t.Logf("chaos: recoveries (kill to the next progress of that kind of process): %d, median %v, worst %v (%s)",
		len(st.recoveries), median.Round(time.Microsecond), st.worst.Round(time.Microsecond), st.worstRole)
}
