package manager

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// FuzzDictCorrupt builds a Dict in a private segment, lets the fuzzer overwrite bytes of its
// header, its table and its entries (what a faulty or hostile peer could write), and then runs
// every operation, a repair included: they may fail, with errors, but must never panic, read out of
// bounds or hang. The lock's own block is left alone (package lock fuzzes it).
func FuzzDictCorrupt(f *testing.F) {
	f.Add([]byte{0, 16, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})                                   // table word
	f.Add([]byte{1, 0, 0, 0x00, 0xff, 0, 0, 0, 0, 0, 0})                                                      // table capacity
	f.Add([]byte{1, 64, 0, 0x08, 0, 0, 0, 0, 0, 0, 0})                                                        // a slot
	f.Add([]byte{2, 8, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})                                                // an entry's key length
	f.Add([]byte{0, 24, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 88, 0, 1, 0, 0, 0, 0, 0, 0, 0}) // count, retired
	f.Add([]byte{0, 48, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0xff, 0, 0, 0, 0, 0, 0, 0})                      // the log
	f.Fuzz(fuzzDict)
}

// fuzzHeap returns a heap in a fresh private segment of 1 MiB, closed when the test ends.
func fuzzHeap(t *testing.T) *shm.Heap {
	seg, err := shm.Create(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	h, err := seg.Heap()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// corrupt applies data to c's shared memory: each 11 bytes are a region (0 the header, 1 the
// current table, 2 and up an entry of it), a 16-bit offset in it, and 8 bytes to write there.
func fuzzCorrupt(t *testing.T, c *core, dict bool, data []byte) {
	t0, err := c.current(dict)
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	for i := range t0.slots {
		if w := t0.slots[i]; w > tomb {
			off := (w >> 32) * 64
			entries = append(entries, c.mem[off:off+64])
		}
	}
	for len(data) >= 11 {
		region := c.hdr
		switch {
		case data[0]%3 == 1:
			region = t0.b
		case data[0]%3 == 2 && len(entries) > 0:
			region = entries[int(data[0]/3)%len(entries)]
		}
		off := int(binary.LittleEndian.Uint16(data[1:])) % len(region)
		copy(region[off:], data[3:11])
		data = data[11:]
	}
}

func fuzzDict(t *testing.T, data []byte) {
	{
		d, err := NewDict[uint64, string](In(fuzzHeap(t)))
		if err != nil {
			t.Fatal(err)
		}
		for k := range uint64(12) {
			if err := d.Set(k, fmt.Sprint("value", k)); err != nil {
				t.Fatal(err)
			}
		}
		c := d.c
		fuzzCorrupt(t, c, true, data)
		for k := range uint64(14) {
			d.Get(k)
			d.Contains(k)
		}
		d.Len()
		d.Items()
		d.Set(100, "new")
		for k := range uint64(40) {
			d.Set(k+200, "grow")
		}
		d.Delete(3)
		d.Pop(4)
		d.Update(5, func(old string, ok bool) string { return old + "!" })
		d.SetDefault(6, "x")
		fuzzRepair(c)
		d.Items()
		OpenDict[uint64, string](d.Ref())
		d.Clear()
		d.Free()
	}
}

// FuzzListCorrupt is FuzzDictCorrupt for a List: overwritten header, table and elements, then
// every operation and a repair: errors, never a panic or a hang.
func FuzzListCorrupt(f *testing.F) {
	f.Add([]byte{1, 8, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0})     // the length
	f.Add([]byte{1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0})           // the capacity
	f.Add([]byte{1, 72, 0, 0x08, 0, 0, 0, 0, 0, 0, 0})       // a slot
	f.Add([]byte{2, 12, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0}) // an element's length
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := NewList[string](In(fuzzHeap(t)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := l.Append(fmt.Sprint("element", i)); err != nil {
				t.Fatal(err)
			}
		}
		fuzzCorrupt(t, l.c, false, data)
		for i := -2; i < 12; i++ {
			l.Get(i)
		}
		l.Len()
		l.Slice(0, 100)
		l.Append("x")
		l.Set(3, "y")
		l.Insert(2, "z")
		l.Pop(1)
		l.Pop(-1)
		fuzzRepair(l.c)
		l.Slice(0, 100)
		OpenList[string](l.Ref())
		l.Clear()
		l.Free()
	})
}

// fuzzRepair runs a repair of every stripe, as a writer taking each over from a dead one would.
func fuzzRepair(c *core) {
	for i := range c.st {
		x := &c.st[i]
		if x.lk.Lock() == nil {
			c.repair(x)
			atomic.AddUint32(x.seq, 1)
			c.unlockStripe(x, true)
		}
	}
}
