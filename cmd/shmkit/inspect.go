package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/internal/robust"
	_ "github.com/shmkit/shmkit/lock"    // registers lock's kinds, so blocks show their names
	_ "github.com/shmkit/shmkit/manager" // and manager's
	_ "github.com/shmkit/shmkit/pool"    // and pool's
	_ "github.com/shmkit/shmkit/ring"    // and ring's
	"github.com/shmkit/shmkit/shm"
)

// detail is `shmkit ls NAME`: what one segment holds, read without attaching to it.
type detail struct {
	Name    string         `json:"name"`
	Size    uint64         `json:"size"`
	Creator int            `json:"creator_pid"`
	Peers   []shm.Peer     `json:"peers"`
	Heap    shm.HeapStats  `json:"heap"`
	ByKind  map[string]int `json:"objects_by_kind"`
	Objects []object       `json:"objects"`
}

// object is one used heap block, with what its kind's header says when this command knows the
// layout (docs/lock.md, docs/ring.md). Error says why a header did not validate.
type object struct {
	Off       uint64     `json:"off"`
	Kind      string     `json:"kind"`
	Size      uint64     `json:"size"`
	Lock      *mutexInfo `json:"lock,omitempty"`
	Queue     *queueInfo `json:"queue,omitempty"`
	Semaphore *semInfo   `json:"semaphore,omitempty"`
	Holders   []holder   `json:"holders,omitempty"`
	Pool      []worker   `json:"pool_workers,omitempty"`
	Table     *tableInfo `json:"table,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// worker is a line of a pool's state block (pool/worker.go): a worker process and what it runs.
type worker struct {
	Line     int    `json:"line"`
	Pid      int    `json:"pid"`
	Alive    bool   `json:"alive"`
	Item     uint64 `json:"item"`                // the pool's id of the item it runs or last ran
	Busy     bool   `json:"busy"`                // running a chunk
	Since    int64  `json:"busy_since_unix_ms"`  // when that chunk began
	Function string `json:"function,omitempty"`  // the chunk's registered function (a hint)
	Done     uint64 `json:"bulk_done,omitempty"` // a bulk chunk's progress word
}

// tableInfo is a manager Dict's or List's header (manager/layout.go).
type tableInfo struct {
	Form       string   `json:"form"` // "dict" or "list"
	Len        uint64   `json:"len"`
	Capacity   uint64   `json:"capacity"`
	Stripes    int      `json:"stripes"`
	StripeLock []uint64 `json:"stripe_locks"`      // offsets of the stripes' lock.Lock blocks
	Writing    []int    `json:"writing,omitempty"` // stripes with a write in progress (or cut short)
	Watchers   uint32   `json:"watchers"`
	Resizing   bool     `json:"resizing,omitempty"` // a grow, clear or rebuild in progress (or cut short)
}

// mutexInfo is a robust mutex word: its holder and whether it lives, and since when at least the
// holder has held it when the hold stamp says (internal/robust: only holds that someone waited
// for, or that began with a wait or a takeover, are stamped).
type mutexInfo struct {
	robust.Word
	Held       bool  `json:"held"`
	OwnerAlive bool  `json:"owner_alive"`
	Since      int64 `json:"held_since_unix_ms,omitempty"` // at least since then (0: not recorded)
}

type queueInfo struct {
	Capacity      uint64     `json:"capacity"`
	BytesUsed     uint64     `json:"bytes_used"`
	Messages      uint64     `json:"messages"`
	Producers     *mutexInfo `json:"producer_lock"`
	Consumers     *mutexInfo `json:"consumer_lock"`
	ConsumerWaits bool       `json:"consumer_may_sleep"`
	ProducerWaits bool       `json:"producer_may_sleep"`
	Shutdown      bool       `json:"shutdown"`
}

type semInfo struct {
	Value   uint32 `json:"value"`
	Waiters bool   `json:"waiters"`
}

// holder is an entry of a lock holders table (Semaphore units, RWLock read locks, Condition
// waiters), alive by the segment's peer table.
type holder struct {
	Pid   int    `json:"pid"`
	Units uint32 `json:"units"`
	Alive bool   `json:"alive"`
}

// The layouts this command reads (kept in step with lock/ and ring/, whose tests check theirs).
const (
	holdersOff   = 64 // Semaphore, RWLock, Condition: 16 entries of pid<<32 | units
	holderSlots  = 16
	lockStamp    = 8  // Lock, RecursiveLock: the hold stamp (blocks of 16 bytes or more)
	rwStamp      = 24 // RWLock: the writer's hold stamp
	ringMagic    = 0x31474e52
	ringVersion  = 4
	ringHeader   = 384
	ringCountTag = 27

	poolLine     = 64 // pool.state: one line per worker (pool/worker.go)
	poolMaxName  = 31
	poolNameCut  = 0x80
	mgrMagic     = 0x0252_474d_4b4d_4853 // manager header (manager/layout.go)
	mgrBase      = 128
	mgrStripe    = 128
	mgrMaxStripe = 64
)

// inspectNamed reads segment name (see shm.Inspect) and describes its objects.
func inspectNamed(name string) (*detail, error) {
	in, err := shm.Inspect(name)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	d := &detail{Name: name, Size: in.Size, Creator: in.Creator, Peers: in.Peers, Heap: in.Heap,
		ByKind: map[string]int{}}
	for _, b := range in.Blocks {
		if !b.Used {
			continue
		}
		o := object{Off: b.Off, Kind: b.Kind.String(), Size: b.Size}
		d.ByKind[o.Kind]++
		describe(in, b, &o)
		d.Objects = append(d.Objects, o)
	}
	return d, nil
}

// describe fills o from the block's payload, validating every field: the segment is untrusted.
func describe(in *shm.Inspection, b shm.Block, o *object) {
	payload := b.Bytes - 64 // the block header is 64 bytes
	read := func(n uint64) []byte {
		if n > payload || b.Size > payload {
			return nil
		}
		buf := make([]byte, n)
		if k, _ := in.ReadAt(buf, int64(b.Off)); uint64(k) != n {
			return nil
		}
		return buf
	}
	fail := func(format string, args ...any) { o.Error = fmt.Sprintf(format, args...) }
	u32 := func(p []byte, off int) uint32 { return binary.LittleEndian.Uint32(p[off:]) }
	u64 := func(p []byte, off int) uint64 { return binary.LittleEndian.Uint64(p[off:]) }
	mutex := func(v uint64, recursive bool) *mutexInfo {
		w, err := robust.Decode(v, recursive)
		if err != nil {
			fail("%v", err)
			return nil
		}
		return &mutexInfo{Word: w, Held: w.Pid != 0, OwnerAlive: w.OwnerAlive()}
	}
	// stamped adds the hold stamp at off of a block whose mutex m is, when the block has one.
	stamped := func(m *mutexInfo, off uint64) {
		if m == nil || !m.Held || b.Size < off+8 {
			return
		}
		if p := read(off + 8); p != nil {
			if st := robust.DecodeStamp(u64(p, int(off))); st.Pid == m.Pid {
				m.Since = st.Since.UnixMilli()
			}
		}
	}
	holders := func(p []byte) {
		for i := 0; i < holderSlots; i++ {
			v := u64(p, holdersOff+8*i)
			if v == 0 {
				continue
			}
			pid := int(v >> 32 & (1<<22 - 1))
			o.Holders = append(o.Holders, holder{Pid: pid, Units: uint32(v), Alive: pid != 0 && in.PeerAlive(pid)})
		}
	}
	switch o.Kind {
	case "lock.Lock", "lock.Barrier":
		if p := read(8); p != nil {
			o.Lock = mutex(u64(p, 0), false)
		}
		if o.Kind == "lock.Lock" {
			stamped(o.Lock, lockStamp)
		}
	case "lock.RecursiveLock":
		if p := read(8); p != nil {
			o.Lock = mutex(u64(p, 0), true)
		}
		stamped(o.Lock, lockStamp)
	case "lock.RWLock":
		if p := read(holdersOff + 8*holderSlots); p != nil {
			o.Lock = mutex(u64(p, 0), false)
			holders(p)
		}
		stamped(o.Lock, rwStamp)
	case "lock.Condition":
		if p := read(holdersOff + 8*holderSlots); p != nil {
			holders(p)
		}
	case "lock.Semaphore", "lock.BoundedSemaphore":
		if p := read(holdersOff + 8*holderSlots); p != nil {
			v := u32(p, 0)
			o.Semaphore = &semInfo{Value: v &^ (1 << 31), Waiters: v&(1<<31) != 0}
			holders(p)
		}
	case "pool.state":
		n := b.Size / poolLine
		p := read(n * poolLine)
		if p == nil {
			fail("a %d-byte block cannot hold %d pool lines", payload, n)
			return
		}
		for i := 0; i < int(n); i++ {
			l := p[i*poolLine : (i+1)*poolLine]
			id := u64(l, 16)
			if id == 0 {
				continue // no worker has started on this line
			}
			w := worker{Line: i, Pid: int(uint32(id)), Item: u64(l, 0), Done: u64(l, 8), Since: int64(u64(l, 24))}
			w.Alive = w.Pid > 0 && w.Pid <= robust.PidMask && pids.AliveSinceMasked(w.Pid, id>>32, 32)
			w.Busy = w.Since != 0
			if k := int(l[32] &^ poolNameCut); k <= poolMaxName && utf8.Valid(l[33:33+k]) {
				w.Function = string(l[33 : 33+k])
				if l[32]&poolNameCut != 0 {
					w.Function = "…" + w.Function
				}
			}
			o.Pool = append(o.Pool, w)
		}
	case "manager.Dict", "manager.List":
		h := read(mgrBase)
		if h == nil {
			fail("a %d-byte block is too small for a manager header", payload)
			return
		}
		stripes := u32(h, 8)
		if u64(h, 0) != mgrMagic || stripes == 0 || stripes > mgrMaxStripe || stripes&(stripes-1) != 0 {
			fail("manager header magic %#x, %d stripes", u64(h, 0), stripes)
			return
		}
		p := read(mgrBase + mgrStripe*uint64(stripes))
		if p == nil {
			fail("a %d-byte block is too small for %d stripes", payload, stripes)
			return
		}
		t := &tableInfo{Form: map[uint32]string{1: "dict", 2: "list"}[u32(p, 108)], Stripes: int(stripes),
			Watchers: u32(p, 76), Resizing: u64(p, 80) != 0 || u64(p, 88) != 0}
		for i := 0; i < int(stripes); i++ {
			r := p[mgrBase+mgrStripe*i:]
			t.StripeLock = append(t.StripeLock, u64(r, 0)>>32*64)
			if u32(r, 8)&1 != 0 {
				t.Writing = append(t.Writing, i)
			}
			t.Len += u64(r, 48)
		}
		if tw := u64(p, 16); tw>>32 != 0 {
			var tab [16]byte
			if k, _ := in.ReadAt(tab[:], int64(tw>>32*64)); k == len(tab) {
				t.Capacity = u64(tab[:], 0)
				if t.Form == "list" {
					t.Len = u64(tab[:], 8)
				}
			}
		}
		o.Table = t
	case "ring.Queue", "ring.JoinableQueue":
		p := read(ringHeader)
		if p == nil {
			fail("a %d-byte block is too small for a queue", payload)
			return
		}
		if m, v := u32(p, 0), u32(p, 4); m != ringMagic || v != ringVersion {
			fail("queue magic %#x version %d", m, v)
			return
		}
		c := u64(p, 8)
		tail, head := u64(p, 72), u64(p, 144)
		if c == 0 || c&(c-1) != 0 || c > payload-ringHeader || head > tail || tail-head > c {
			fail("queue capacity %d, head %d, tail %d", c, head, tail)
			return
		}
		const countMask = 1<<(64-ringCountTag) - 1
		q := &queueInfo{Capacity: c, BytesUsed: tail - head,
			Messages:      (u64(p, 80)>>ringCountTag - u64(p, 152)>>ringCountTag) & countMask,
			ConsumerWaits: u32(p, 196) != 0, ProducerWaits: u32(p, 260) != 0, Shutdown: u32(p, 320) != 0}
		q.Producers, q.Consumers = mutex(u64(p, 64), false), mutex(u64(p, 128), false)
		o.Queue = q
	}
}

// maxDeadShown is how many dead peers ls NAME lists by pid.
const maxDeadShown = 8

// printDetail prints `shmkit ls NAME` as tables.
func printDetail(w io.Writer, d *detail) {
	yn := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "segment %s: %d bytes, creator pid %d\n", d.Name, d.Size, d.Creator)
	fmt.Fprintf(w, "heap: %d objects (%d bytes), %d free blocks (%d bytes), carved to %d",
		d.Heap.Used, d.Heap.UsedBytes, d.Heap.Free, d.Heap.FreeBytes, d.Heap.Bump)
	if d.Heap.Unwalked != 0 {
		fmt.Fprintf(w, ", %d bytes unreadable (a block header never written)", d.Heap.Unwalked)
	}
	fmt.Fprintln(w)
	// Every process that ever attached stays in the peer table until it fills: list the live
	// ones, and the dead ones only when few (--json has them all).
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER PID\tALIVE")
	var dead []string
	for _, p := range d.Peers {
		if p.Alive {
			fmt.Fprintf(tw, "%d\t%s\n", p.Pid, yn[p.Alive])
		} else {
			dead = append(dead, strconv.Itoa(p.Pid))
		}
	}
	if len(dead) <= maxDeadShown {
		for _, p := range dead {
			fmt.Fprintf(tw, "%s\t%s\n", p, yn[false])
		}
	} else {
		fmt.Fprintf(tw, "%d dead peers\t(%s ...)\n", len(dead), strings.Join(dead[:maxDeadShown], " "))
	}
	tw.Flush()
	kinds := make([]string, 0, len(d.ByKind))
	for k := range d.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tOBJECTS")
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\n", k, d.ByKind[k])
	}
	tw.Flush()
	owner := func(m *mutexInfo) string {
		switch {
		case m == nil:
			return "?"
		case !m.Held:
			return "free"
		}
		s := fmt.Sprintf("pid %d (%s)", m.Pid, map[bool]string{true: "alive", false: "DEAD"}[m.OwnerAlive])
		if m.Since != 0 {
			s += fmt.Sprintf(" for at least %v", time.Since(time.UnixMilli(m.Since)).Round(time.Millisecond))
		}
		if m.Waiters {
			s += ", waiters"
		}
		if m.Recovered {
			s += ", recovered"
		}
		return s
	}
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tKIND\tSTATE")
	for _, o := range d.Objects {
		var st string
		switch {
		case o.Error != "":
			st = "unreadable: " + o.Error
		case o.Lock != nil:
			st = "holder " + owner(o.Lock)
		case o.Queue != nil:
			q := o.Queue
			st = fmt.Sprintf("%d messages, %d of %d bytes; producer lock %s, consumer lock %s", q.Messages,
				q.BytesUsed, q.Capacity, owner(q.Producers), owner(q.Consumers))
			if q.ConsumerWaits {
				st += "; a consumer may sleep"
			}
			if q.ProducerWaits {
				st += "; a producer may sleep"
			}
		case o.Semaphore != nil:
			st = fmt.Sprintf("value %d", o.Semaphore.Value)
			if o.Semaphore.Waiters {
				st += ", waiters"
			}
		case o.Table != nil:
			t := o.Table
			st = fmt.Sprintf("%s of %d (capacity %d), %d stripe(s), %d watcher(s)", t.Form, t.Len, t.Capacity, t.Stripes, t.Watchers)
			if len(t.Writing) != 0 {
				st += fmt.Sprintf("; a write in progress (or cut short) in stripe(s) %v", t.Writing)
			}
			if t.Resizing {
				st += "; a resize in progress (or cut short)"
			}
		case o.Pool != nil:
			st = fmt.Sprintf("pool of %d worker line(s)", len(o.Pool))
		}
		for _, h := range o.Holders {
			st += fmt.Sprintf("; pid %d holds %d (%s)", h.Pid, h.Units, map[bool]string{true: "alive", false: "DEAD"}[h.Alive])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", o.Off, o.Kind, st)
	}
	tw.Flush()
	for _, o := range d.Objects {
		if o.Pool == nil {
			continue
		}
		fmt.Fprintf(w, "\npool state at %d:\n", o.Off)
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tPID\tALIVE\tSTATE\tITEM\tFUNCTION")
		for _, p := range o.Pool {
			state := "idle"
			if p.Busy {
				state = "busy for " + time.Since(time.UnixMilli(p.Since)).Round(time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\n", p.Line, p.Pid, yn[p.Alive], state, p.Item, p.Function)
		}
		tw.Flush()
	}
}
