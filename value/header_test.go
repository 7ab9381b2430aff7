package value_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// payload returns the shared bytes of the object ref names: the header a peer could scribble on.
func payload(t testing.TB, ref shm.Ref) []byte {
	_, b, err := shm.Resolve(ref, ref.Kind)
	require.NoError(t, err)
	return b
}

// TestHeaderValidation: a header whose element size, length, data offset or form disagrees with
// its block (or with T) is refused at open, and nothing is read out of bounds.
func TestHeaderValidation(t *testing.T) {
	a, err := value.NewRawArray[int32](10)
	require.NoError(t, err)
	defer a.Free()
	b := payload(t, a.Ref())
	ref := a.Ref()
	dataOff := binary.LittleEndian.Uint64(b[24:])
	require.Equal(t, ref.Off+64, dataOff)

	cases := []struct {
		name string
		off  int
		val  uint64
		size int // bytes written
		want error
	}{
		{"magic", 0, 0x1234, 8, value.ErrCorrupt},
		{"form", 8, 1, 1, value.ErrMismatch},
		{"typecode", 9, 'd', 1, value.ErrMismatch},
		{"unknown typecode", 9, 'z', 1, value.ErrTypecode},
		{"lock flag", 10, 1, 1, value.ErrMismatch},
		{"unknown flag", 10, 0x80, 1, value.ErrCorrupt},
		{"element size", 12, 8, 4, value.ErrMismatch},
		{"length past the block", 16, 11, 8, value.ErrCorrupt},
		{"huge length", 16, 1 << 62, 8, value.ErrCorrupt},
		{"negative length", 16, ^uint64(0), 8, value.ErrCorrupt},
		{"data offset unaligned", 24, dataOff + 8, 8, value.ErrCorrupt},
		{"data offset past the block", 24, dataOff + 64, 8, value.ErrCorrupt},
		{"data offset before the block", 24, dataOff - 64, 8, value.ErrCorrupt},
		{"data offset wraps", 24, ^uint64(63), 8, value.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			saved := append([]byte(nil), b[:64]...)
			defer copy(b, saved)
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], c.val)
			copy(b[c.off:c.off+c.size], w[:c.size])
			_, err := value.OpenRawArray[int32](ref)
			require.ErrorIs(t, err, c.want)
		})
	}
	_, err = value.OpenRawArray[int32](ref)
	require.NoError(t, err, "the restored header opens again")
}

// TestLockRefValidation: a lock offset a peer scribbled is refused, not followed.
func TestLockRefValidation(t *testing.T) {
	v, err := value.NewValue(quad{1, 1, 1, 1})
	require.NoError(t, err)
	defer v.Free()
	b := payload(t, v.Ref())
	for _, off := range []int{32, 36, 40, 44, 48} {
		saved := binary.LittleEndian.Uint32(b[off:])
		binary.LittleEndian.PutUint32(b[off:], saved^0x5a)
		_, err := value.OpenValue[quad](v.Ref())
		require.ErrorIs(t, err, value.ErrCorrupt, "offset %d", off)
		binary.LittleEndian.PutUint32(b[off:], saved)
	}
	// The generation word is data, any value is fine: only its low bit is used.
	binary.LittleEndian.PutUint64(b[56:], 0xdeadbeef)
	w, err := value.OpenValue[quad](v.Ref())
	require.NoError(t, err)
	q := w.Load()
	require.Equal(t, quad{q.A, q.A, q.A, q.A}, q)
}

// FuzzOpenHeader writes arbitrary bytes over the header of an Array and of a Value and opens
// them: an error is fine, a panic or a read out of bounds is not.
func FuzzOpenHeader(f *testing.F) {
	a, err := value.NewRawArray[int16](37)
	require.NoError(f, err)
	v, err := value.NewValue(quad{})
	require.NoError(f, err)
	ab, vb := payload(f, a.Ref()), payload(f, v.Ref())
	f.Add(append([]byte(nil), ab[:64]...))
	f.Add(append([]byte(nil), vb[:64]...))
	savedA, savedV := append([]byte(nil), ab[:64]...), append([]byte(nil), vb[:64]...)
	f.Fuzz(func(t *testing.T, hdr []byte) {
		defer copy(ab, savedA)
		defer copy(vb, savedV)
		copy(ab[:64], hdr)
		copy(vb[:64], hdr)
		if r, err := value.OpenRawArray[int16](a.Ref()); err == nil {
			for i := range r.Len() {
				r.Set(i, r.At(i)+1)
			}
			_ = r.Slice()
		}
		if r, err := value.OpenValue[quad](v.Ref()); err == nil {
			r.Load()
			r.Update(func(q *quad) { q.A++ })
		}
	})
}
