//go:build linux

package shm

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestMapsLineIs(t *testing.T) {
	dev := unix.Mkdev(0, 0x1a)
	line := "7f00a000-7f00c000 rw-s 00000000 00:1a 123456   /dev/shm/x (deleted)"
	if !mapsLineIs([]byte(line), dev, 123456) {
		t.Fatal("the mapping was not recognised")
	}
	for _, l := range []string{line[:30], "a b c 00:1a 123457 /x", "a b c 00:1b 123456 /x", "a b c 001a 123456", "a b c zz:1a 123456"} {
		if mapsLineIs([]byte(l), dev, 123456) {
			t.Fatalf("%q matched", l)
		}
	}
}

func FuzzMapsLineIs(f *testing.F) {
	f.Add([]byte("7f00a000-7f00c000 rw-s 00000000 00:1a 123456 /dev/shm/x"), uint64(26), uint64(123456))
	f.Fuzz(func(t *testing.T, line []byte, dev, ino uint64) { mapsLineIs(line, dev, ino) })
}
