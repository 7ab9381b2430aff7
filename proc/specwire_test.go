package proc

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// richSpec has every field set, nil and empty byte slices apart, and every kind of slot.
func richSpec() *spec {
	lvl, file := -4, 3
	return &spec{
		Target: "github.com/x/y.target", Name: "Process-3:1", Daemon: true, Ident: "3:1", Parent: 4242, PName: "MainProcess",
		Self: []byte{}, SelfSlots: []slot{{Path: []step{{Op: stepField, N: 2}, {Op: stepDeref}}, Ref: &shm.Ref{Seg: 1 << 63, Name: "/psm_x", Off: 1 << 40, Kind: 7, Gen: 1<<32 - 1}}},
		Args: []arg{
			{},
			{Data: []byte{0xf6}},
			{Data: []byte("abc"), Slots: []slot{{Path: []step{{Op: stepKey, Key: []byte{}}, {Op: stepIndex, N: -1}}, File: &file}, {}}},
		},
		Segments: []uint64{1, 1<<64 - 1},
		LogLevel: &lvl,
	}
}

// TestSpecWire: a spec crosses the binary form unchanged, nil and empty apart; every shorter
// prefix and every message with a byte after the end is refused.
func TestSpecWire(t *testing.T) {
	for _, sp := range []*spec{{}, richSpec()} {
		b := sp.marshal()
		got, err := unmarshalSpec(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, sp) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, sp)
		}
		for n := range len(b) {
			if _, err := unmarshalSpec(b[:n]); !errors.Is(err, errSpec) {
				t.Fatalf("a prefix of %d of %d bytes: %v", n, len(b), err)
			}
		}
		if _, err := unmarshalSpec(append(b, 0)); !errors.Is(err, errSpec) {
			t.Fatalf("a byte after the end: %v", err)
		}
	}
}

// FuzzSpecWire: whatever the bytes, the decoder returns a spec or errSpec, never panics, and a spec
// it returns, encoded again, decodes to the same spec.
func FuzzSpecWire(f *testing.F) {
	f.Add(richSpec().marshal())
	f.Add((&spec{}).marshal())
	f.Add([]byte{specMagic, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := unmarshalSpec(b)
		if err != nil {
			if !errors.Is(err, errSpec) {
				t.Fatalf("error %v does not match errSpec", err)
			}
			return
		}
		again, err := unmarshalSpec(sp.marshal())
		if err != nil || !reflect.DeepEqual(again, sp) {
			t.Fatalf("re-encoding changed the spec: %v\n%#v\n%#v", err, again, sp)
		}
	})
}
