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

func fuzzDict(t *testing.T, data []byte) {
	{
		seg, err := shm.Create(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		h, err := seg.Heap()
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDict[uint64, string](In(h))
		if err != nil {
			t.Fatal(err)
		}
		for k := range uint64(12) {
			if err := d.Set(k, fmt.Sprint("value", k)); err != nil {
				t.Fatal(err)
			}
		}
		c := d.c
		t0, err := c.current(true)
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
		// Each write: region (0 header, 1 table, 2 an entry), a 16-bit offset, 8 bytes.
		for len(data) >= 11 {
			var region []byte
			switch data[0] % 3 {
			case 0:
				region = c.hdr
			case 1:
				region = t0.b
			default:
				region = entries[int(data[0]/3)%len(entries)]
			}
			off := int(binary.LittleEndian.Uint16(data[1:])) % len(region)
			copy(region[off:], data[3:11])
			data = data[11:]
		}
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
		if c.lk.Lock() == nil {
			c.repair(true)
			atomic.AddUint32(c.wSeq, 1)
			c.unlockW()
		}
		d.Items()
		OpenDict[uint64, string](d.Ref())
		d.Clear()
		d.Free()
	}
}
