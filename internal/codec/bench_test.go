package codec

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"reflect"
	"testing"
)

// benchMsg is a small typical queue message: an ID, a name, four numbers.
type benchMsg struct {
	ID   int64
	Name string
	Vals []float64
}

// benchPOD is a 64-byte pointer-free message.
type benchPOD struct {
	ID    int64
	Seq   uint64
	Vals  [5]float64
	Kind  int32
	Flags uint16
	OK    bool
	_     uint8
}

// BenchmarkCodec measures one encode plus one decode of a message, for each codec that
// could carry it. gob gets a fresh Encoder and Decoder per message, because every queue
// message must be decodable alone (a gob stream sends each type's description once, to
// the one decoder that reads the whole stream).
func BenchmarkCodec(b *testing.B) {
	msg := smallMsg()
	pod := benchPOD{ID: 42, Seq: 1 << 40, Vals: [5]float64{1, 2, 3, 4, 5}, Kind: 3, Flags: 9, OK: true}
	if s := reflect.TypeFor[benchPOD]().Size(); s != 64 {
		b.Fatalf("benchPOD is %d bytes, want 64", s)
	}

	b.Run("small", func(b *testing.B) {
		b.Run("cbor", func(b *testing.B) { benchCodec(b, For[benchMsg](), msg) })
		b.Run("gob", func(b *testing.B) { benchGob(b, msg) })
		b.Run("json", func(b *testing.B) { benchJSON(b, msg) })
	})
	b.Run("medium", func(b *testing.B) { // only to set BenchmarkEncodeCheck against
		b.Run("cbor", func(b *testing.B) { benchCodec(b, For[benchMsg](), mediumMsg()) })
	})
	b.Run("pod64", func(b *testing.B) {
		b.Run("raw", func(b *testing.B) { benchCodec(b, For[benchPOD](), pod) })
		// For would pick raw; build the CBOR codec by hand to compare.
		cb := &Codec[benchPOD]{typ: reflect.TypeFor[benchPOD](), size: -1}
		b.Run("cbor", func(b *testing.B) { benchCodec(b, cb, pod) })
		b.Run("gob", func(b *testing.B) { benchGob(b, pod) })
		b.Run("json", func(b *testing.B) { benchJSON(b, pod) })
	})
}

func benchCodec[T any](b *testing.B, c *Codec[T], v T) {
	var out T
	var buf []byte
	var err error
	b.ReportAllocs()
	for b.Loop() {
		buf, err = c.Append(buf[:0], &v)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Decode(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
	check(b, out, v)
}

func benchGob[T any](b *testing.B, v T) {
	var out T
	var buf bytes.Buffer
	var r bytes.Reader
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
			b.Fatal(err)
		}
		r.Reset(buf.Bytes())
		out = *new(T)
		if err := gob.NewDecoder(&r).Decode(&out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/msg")
	check(b, out, v)
}

func benchJSON[T any](b *testing.B, v T) {
	var out T
	var data []byte
	var err error
	b.ReportAllocs()
	for b.Loop() {
		data, err = json.Marshal(&v)
		if err != nil {
			b.Fatal(err)
		}
		out = *new(T)
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes/msg")
	check(b, out, v)
}

func check[T any](b *testing.B, got, want T) {
	if !reflect.DeepEqual(got, want) {
		b.Fatalf("round trip: got %+v, want %+v", got, want)
	}
}

// BenchmarkEncodeCheck measures what Append spends checking each CBOR message it makes
// against the decoder's limits (scanLimits), next to the decoder's full check.
func BenchmarkEncodeCheck(b *testing.B) {
	for _, tt := range []struct {
		name string
		msg  benchMsg
	}{
		{"small", smallMsg()},
		{"medium", mediumMsg()},
	} {
		buf, err := Marshal(tt.msg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := checkEncoded(buf, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(buf)), "bytes/msg")
		})
		b.Run(tt.name+"/full", func(b *testing.B) { // the decoder's own check, for comparison
			b.ReportAllocs()
			for b.Loop() {
				if err := decMode.Wellformed(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func smallMsg() benchMsg {
	return benchMsg{ID: 42, Name: "worker-7", Vals: []float64{1.5, -2.25, 3e10, 0.001}}
}

// mediumMsg is a message with 64 numbers, about 600 bytes of CBOR.
func mediumMsg() benchMsg {
	m := benchMsg{ID: 42, Name: "worker-7", Vals: make([]float64, 64)}
	for i := range m.Vals {
		m.Vals[i] = float64(i) * 1.25
	}
	return m
}
