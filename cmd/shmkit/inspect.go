package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/shmkit/shmkit/internal/robust"
	_ "github.com/shmkit/shmkit/lock"    // registers lock's kinds, so blocks show their names
	_ "github.com/shmkit/shmkit/manager" // and manager's
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
	Error     string     `json:"error,omitempty"`
}

// mutexInfo is a robust mutex word: its holder and whether it lives. How long it has been held
// is not recorded in the word.
type mutexInfo struct {
	robust.Word
	Held       bool `json:"held"`
	OwnerAlive bool `json:"owner_alive"`
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
	ringMagic    = 0x31474e52
	ringVersion  = 4
	ringHeader   = 384
	ringCountTag = 27
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
	case "lock.RecursiveLock":
		if p := read(8); p != nil {
			o.Lock = mutex(u64(p, 0), true)
		}
	case "lock.RWLock":
		if p := read(holdersOff + 8*holderSlots); p != nil {
			o.Lock = mutex(u64(p, 0), false)
			holders(p)
		}
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
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER PID\tALIVE")
	for _, p := range d.Peers {
		fmt.Fprintf(tw, "%d\t%s\n", p.Pid, yn[p.Alive])
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
		}
		for _, h := range o.Holders {
			st += fmt.Sprintf("; pid %d holds %d (%s)", h.Pid, h.Units, map[bool]string{true: "alive", false: "DEAD"}[h.Alive])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", o.Off, o.Kind, st)
	}
	tw.Flush()
}
