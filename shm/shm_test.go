package shm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var blobKind, otherKind shm.Kind

func init() {
	blobKind = shm.RegisterKind("shm_test.blob", func(r shm.Ref) (any, error) { _, b, err := shm.Resolve(r, blobKind); return b, err })
	otherKind = shm.RegisterKind("shm_test.other", func(r shm.Ref) (any, error) { return nil, nil })
}

func TestAnonymousSegment(t *testing.T) {
	s, err := shm.Create(100_000, nil)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 100_032, s.Size(), "rounded up to 64")
	require.Equal(t, "", s.Name())
	require.Equal(t, os.Getpid(), s.Creator())
	require.Same(t, s, shm.Lookup(s.ID()))
	require.Contains(t, shm.Inheritable(), s)
	// The size is sealed: no peer can shrink it under a reader.
	require.Error(t, unix.Ftruncate(int(s.File().Fd()), 4096))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	require.Nil(t, shm.Lookup(s.ID()))
}

func TestNamedSegmentLifecycle(t *testing.T) {
	name := testutil.ShmName(t)
	s, err := shm.CreateNamed(name, 1<<16, nil)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(shm.DevShm, name))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	var st unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(shm.DevShm, name), &st))
	require.GreaterOrEqual(t, st.Blocks*512, int64(1<<16), "pages reserved at creation")

	_, err = shm.CreateNamed(name, 1<<16, nil)
	require.ErrorIs(t, err, os.ErrExist)

	h, err := s.Heap()
	require.NoError(t, err)
	ref, err := h.Alloc(8, blobKind)
	require.NoError(t, err)
	b, err := s.Object(ref)
	require.NoError(t, err)
	copy(b, "shared!!")
	require.NoError(t, s.SetRoot(ref))

	// A second, independent mapping (as another process would have) sees the same bytes.
	f, err := os.OpenFile(filepath.Join(shm.DevShm, name), os.O_RDWR, 0)
	require.NoError(t, err)
	other, err := shm.Adopt(f)
	require.NoError(t, err)
	require.Same(t, s, other, "adopting a segment already open returns the open one")
	again, err := shm.OpenNamed(name)
	require.NoError(t, err)
	require.Same(t, s, again)

	// Three handles: the first two Closes keep the mapping and the name.
	require.NoError(t, again.Close())
	require.NoError(t, other.Close())
	require.Equal(t, "shared!!", string(b), "still mapped")
	_, err = os.Stat(filepath.Join(shm.DevShm, name))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(filepath.Join(shm.DevShm, name))
	require.ErrorIs(t, err, os.ErrNotExist, "the creator's Close unlinks")
	_, err = shm.OpenNamed(name)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestNamedSegmentMode(t *testing.T) {
	name := testutil.ShmName(t)
	s, err := shm.CreateNamed(name, 8192, &shm.Options{Mode: 0o644, Sparse: true})
	require.NoError(t, err)
	defer s.Close()
	fi, err := os.Stat(filepath.Join(shm.DevShm, name))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

func TestBadArguments(t *testing.T) {
	for _, name := range []string{"", "a/b", "/lead", "nul\x00", ".", "..", strings.Repeat("x", shm.NameMax+1)} {
		_, err := shm.CreateNamed(name, 8192, nil)
		require.ErrorIs(t, err, shm.ErrBadName, "%q", name)
		_, err = shm.OpenNamed(name)
		require.ErrorIs(t, err, shm.ErrBadName, "%q", name)
	}
	for _, size := range []int{-1, shm.MaxSize + 1} {
		_, err := shm.Create(size, nil)
		require.ErrorIs(t, err, shm.ErrBadSize, "%d", size)
	}
	_, err := shm.Adopt(nil)
	require.Error(t, err)
	s, err := shm.Create(8192, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	_, err = h.Alloc(-1, blobKind)
	require.ErrorIs(t, err, shm.ErrBadSize)
	_, err = h.Alloc(shm.MaxAlloc+1, blobKind)
	require.ErrorIs(t, err, shm.ErrBadSize)
}

// writeFile creates a /dev/shm file of the test with the given contents.
func writeFile(t *testing.T, b []byte) string {
	name := testutil.ShmName(t)
	require.NoError(t, os.WriteFile(filepath.Join(shm.DevShm, name), b, 0o600))
	t.Cleanup(func() { os.Remove(filepath.Join(shm.DevShm, name)) })
	return name
}

func TestOpenRefusesWhatIsNotASegment(t *testing.T) {
	good := func(size int) []byte {
		name := testutil.ShmName(t)
		s, err := shm.CreateNamed(name, size, nil)
		require.NoError(t, err)
		b := append([]byte(nil), s.Bytes()...)
		require.NoError(t, s.Close())
		return b
	}
	img := good(1 << 16)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, shm.ErrNotSegment},
		{"text", []byte(strings.Repeat("not a segment at all\n", 400)), shm.ErrNotSegment},
		{"zeros", make([]byte, 1<<16), shm.ErrNotReady},
		{"other version", func() []byte { b := append([]byte(nil), img...); b[8] = 9; return b }(), shm.ErrVersion},
		{"truncated", img[:1<<15], shm.ErrTruncated},
		{"grown", append(append([]byte(nil), img...), make([]byte, 4096)...), shm.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := writeFile(t, tc.b)
			_, err := shm.OpenNamed(name)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// A symlink is not followed.
	target := writeFile(t, img)
	link := testutil.ShmName(t)
	require.NoError(t, os.Symlink(filepath.Join(shm.DevShm, target), filepath.Join(shm.DevShm, link)))
	defer os.Remove(filepath.Join(shm.DevShm, link))
	_, err := shm.OpenNamed(link)
	require.ErrorIs(t, err, unix.ELOOP)
}

func TestOpenRaw(t *testing.T) {
	payload := []byte("written by some other program")
	name := writeFile(t, payload)
	s, err := shm.OpenRaw(name)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, payload, s.Bytes())
	_, err = s.Heap()
	require.Error(t, err)
	_, err = s.Root()
	require.ErrorIs(t, err, shm.ErrBadRef)
	_, err = os.Stat(filepath.Join(shm.DevShm, name))
	require.NoError(t, err)
}

func TestHeapAllocFree(t *testing.T) {
	s, err := shm.Create(1<<20, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	seen := map[uint64]bool{}
	var refs []shm.Ref
	for i, n := range []int{0, 1, 63, 64, 65, 200, 4000, 70_000} {
		ref, err := h.Alloc(n, blobKind)
		require.NoError(t, err, "alloc %d", n)
		require.Zero(t, ref.Off%64, "payloads are 64-byte aligned")
		require.False(t, seen[ref.Off])
		seen[ref.Off] = true
		b, err := s.Object(ref)
		require.NoError(t, err)
		require.Len(t, b, n)
		for j := range b {
			b[j] = byte(i + 1)
		}
		refs = append(refs, ref)
	}
	// Free and reuse: the same class hands back the same block, zeroed.
	require.NoError(t, h.Free(refs[5]))
	again, err := h.Alloc(200, blobKind)
	require.NoError(t, err)
	require.Equal(t, refs[5].Off, again.Off)
	b, _ := s.Object(again)
	require.Equal(t, make([]byte, 200), b)
	// Misuse is refused without harm.
	require.NotEqual(t, refs[5].Gen, again.Gen, "a reused block is a new generation")
	require.ErrorIs(t, h.Free(refs[5]), shm.ErrBadRef, "a stale ref to a reused block is refused")
	_, err = s.Object(refs[5])
	require.ErrorIs(t, err, shm.ErrBadRef)
	require.NoError(t, h.Free(again))
	require.ErrorIs(t, h.Free(again), shm.ErrBadRef, "double free")
	require.ErrorIs(t, h.Free(shm.Ref{Seg: s.ID(), Off: 12345, Kind: blobKind}), shm.ErrBadRef)
	require.ErrorIs(t, h.Free(shm.Ref{Seg: s.ID(), Off: 1 << 40, Kind: blobKind}), shm.ErrBadRef)
	require.ErrorIs(t, h.Free(shm.Ref{Seg: s.ID() + 1, Off: refs[0].Off, Kind: blobKind}), shm.ErrBadRef)
	wrong := refs[1]
	wrong.Kind = otherKind
	_, err = s.Object(wrong)
	require.ErrorIs(t, err, shm.ErrBadRef)
	require.ErrorIs(t, h.Free(wrong), shm.ErrBadRef)
	_, _, err = shm.Resolve(refs[1], otherKind)
	require.ErrorIs(t, err, shm.ErrBadRef)
	got, err := shm.Rebuild(refs[1])
	require.NoError(t, err)
	require.Equal(t, byte(2), got.([]byte)[0])
	_, err = shm.Rebuild(shm.Ref{Kind: 12345})
	require.ErrorIs(t, err, shm.ErrBadRef)
}

func TestBlockSizeFitsExactly(t *testing.T) {
	for _, payloads := range [][]int{{0}, {64}, {100, 200}, {4000, 8, 8}, {70_000, 1}} {
		size := shm.HeaderSize
		for _, p := range payloads {
			size += shm.BlockSize(p)
		}
		s, err := shm.Create(size, nil)
		require.NoError(t, err)
		h, _ := s.Heap()
		for _, p := range payloads {
			_, err := h.Alloc(p, blobKind)
			require.NoError(t, err, "payloads %v", payloads)
		}
		_, err = h.Alloc(0, blobKind)
		require.ErrorIs(t, err, shm.ErrNoSpace, "payloads %v: no room left", payloads)
		require.NoError(t, s.Close())
	}
	require.Equal(t, -1, shm.BlockSize(-1))
}

func TestHeapExhaustion(t *testing.T) {
	s, err := shm.Create(64<<10, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	var refs []shm.Ref
	for {
		ref, err := h.Alloc(1000, blobKind)
		if err != nil {
			require.ErrorIs(t, err, shm.ErrNoSpace)
			break
		}
		refs = append(refs, ref)
	}
	require.NotEmpty(t, refs)
	_, err = h.Alloc(1<<20, blobKind)
	require.ErrorIs(t, err, shm.ErrNoSpace)
	for _, r := range refs {
		require.NoError(t, h.Free(r))
	}
	for range refs {
		_, err := h.Alloc(1000, blobKind)
		require.NoError(t, err, "freed blocks are reused")
	}
}

func TestHeapCorruptStateIsAnError(t *testing.T) {
	s, err := shm.Create(1<<16, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	c := shm.ClassOf(100)
	ref, err := h.Alloc(100, blobKind)
	require.NoError(t, err)
	require.NoError(t, h.Free(ref))
	for _, head := range []uint64{1, 1 << 31, 0xffff_ffff, 7<<32 | 3} { // into the header; past the end
		shm.CorruptHead(h, c, head)
		_, err := h.Alloc(100, blobKind)
		require.ErrorIs(t, err, shm.ErrCorrupt, "head %#x", head)
	}
	shm.CorruptHead(h, c, 0)
	for _, bump := range []uint64{0, 17, 1 << 40} {
		shm.CorruptBump(h, bump)
		_, err := h.Alloc(100, blobKind)
		require.ErrorIs(t, err, shm.ErrCorrupt, "bump %#x", bump)
	}
}

// FuzzHeapCorruption scribbles over the heap's shared state as a hostile peer could, then runs
// heap operations: they may fail, but must not panic or touch memory outside the segment.
func FuzzHeapCorruption(f *testing.F) {
	f.Add(uint16(0), []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(3))
	f.Add(uint16(4096), []byte{0xff, 0xff, 0xff, 0xff}, uint8(1))
	f.Add(uint16(56), []byte{0, 0x10, 0, 0, 0, 0, 0, 0}, uint8(9))
	f.Add(uint16(4100), []byte{0x53, 0x4b, 0x48, 0x41, 200, 0, 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, at uint16, junk []byte, ops uint8) {
		s, err := shm.Create(32<<10, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h, _ := s.Heap()
		var refs []shm.Ref
		for i := range 4 {
			r, err := h.Alloc(100*i, blobKind)
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, r)
		}
		h.Free(refs[1])
		mem := s.Bytes()
		off := int(at) % len(mem)
		copy(mem[off:], junk)
		for i := range int(ops % 16) {
			switch i % 3 {
			case 0:
				if r, err := h.Alloc(int(at)%3000, blobKind); err == nil {
					refs = append(refs, r)
				}
			case 1:
				h.Free(refs[i%len(refs)])
			case 2:
				if b, err := s.Object(refs[i%len(refs)]); err == nil {
					for j := range b {
						b[j] = 1
					}
				}
			}
		}
		s.Root()
	})
}

// Children for the multi-process tests.
var (
	_ = proc.Register(truncateNamed)
	_ = proc.Register(churnHeap)
	_ = proc.Register(createNamedAndHang)
)

func truncateNamed(name string) error { return os.Truncate(filepath.Join(shm.DevShm, name), 0) }

// churnHeap allocates and frees in a loop, stamping each block with its pid and checking the stamp
// before freeing it: a block handed out twice would show another stamp.
func churnHeap(n int, stop *stopFlag) error {
	pid := uint32(os.Getpid())
	rng := rand.New(rand.NewPCG(uint64(pid), 1))
	var held []shm.Ref
	for i := 0; n < 0 || i < n; i++ {
		if stop != nil && stop.Get(0) != 0 {
			break
		}
		if len(held) < 16 && rng.IntN(2) == 0 {
			ref, err := shm.Alloc(8+rng.IntN(300), blobKind)
			if err != nil {
				return err
			}
			_, b, err := shm.Resolve(ref, blobKind)
			if err != nil {
				return err
			}
			for j := 0; j+4 <= len(b); j += 4 {
				binary.LittleEndian.PutUint32(b[j:], pid)
			}
			held = append(held, ref)
			continue
		}
		if len(held) == 0 {
			continue
		}
		k := rng.IntN(len(held))
		ref := held[k]
		held = append(held[:k], held[k+1:]...)
		_, b, err := shm.Resolve(ref, blobKind)
		if err != nil {
			return err
		}
		for j := 0; j+4 <= len(b); j += 4 {
			if got := binary.LittleEndian.Uint32(b[j:]); got != pid {
				return fmt.Errorf("block %v stamped by %d, not by me (%d): handed out twice", ref, got, pid)
			}
		}
		if err := shm.Free(ref); err != nil {
			return err
		}
	}
	for _, ref := range held {
		if err := shm.Free(ref); err != nil {
			return err
		}
	}
	return nil
}

func createNamedAndHang(name string) error {
	if _, err := shm.CreateNamed(name, 8192, nil); err != nil {
		return err
	}
	time.Sleep(time.Hour)
	return nil
}

// stopFlag is a shared word (word 0 of a cell) that tells children to stop.
type stopFlag = testutil.Cell

func newStop(t *testing.T) *stopFlag { return testutil.NewCell(t, 64) }

func TestTruncatedByAnotherProcess(t *testing.T) {
	name := testutil.ShmName(t)
	s, err := shm.CreateNamed(name, 1<<16, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	ref, err := h.Alloc(100, blobKind)
	require.NoError(t, err)
	p, err := proc.Start(truncateNamed, name)
	require.NoError(t, err)
	testutil.WaitOK(t, p)
	// Every operation that touches the lost pages reports it; none crashes the reader.
	_, err = h.Alloc(100, blobKind)
	require.ErrorIs(t, err, shm.ErrTruncated)
	_, err = s.Object(ref)
	require.ErrorIs(t, err, shm.ErrTruncated)
	require.ErrorIs(t, h.Free(ref), shm.ErrTruncated)
	_, err = s.Root()
	require.ErrorIs(t, err, shm.ErrTruncated)
}

// Blocks freed by a process in one free-list shard are reused by a process in any other before
// the heap carves new ones: sharding the lists spreads their heads over cache lines, it does not
// partition the free space. A large class, which has one list, is unaffected.
func TestHeapShardsShareFreeBlocks(t *testing.T) {
	s, err := shm.Create(1<<20, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	require.Equal(t, 0, shm.Shard(s), "the creator takes the first peer slot")
	for _, size := range []int{64, 2000, 10_000} {
		for from := range shm.NumShards {
			shm.SetShard(s, from)
			var refs []shm.Ref
			freed := map[uint64]bool{}
			for range 8 {
				ref, err := h.Alloc(size, blobKind)
				require.NoError(t, err)
				refs = append(refs, ref)
				freed[ref.Off] = true
			}
			for _, ref := range refs {
				require.NoError(t, h.Free(ref))
			}
			_, before, err := s.Blocks()
			require.NoError(t, err)
			shm.SetShard(s, (from+1)%shm.NumShards)
			for i := range 8 {
				ref, err := h.Alloc(size, blobKind)
				require.NoError(t, err)
				require.Truef(t, freed[ref.Off], "size %d, shard %d: allocation %d is not a block shard %d freed", size, from, i, from)
				require.NoError(t, h.Free(ref))
			}
			_, after, err := s.Blocks()
			require.NoError(t, err)
			require.Equal(t, before.Bump, after.Bump, "size %d: the heap grew while another shard had free blocks", size)
		}
	}
}

// Processes attached to one heap free onto different shards (each claims one that no live
// process holds): the child's is not its parent's.
func TestHeapShardPerProcess(t *testing.T) {
	s, err := shm.Create(1<<20, nil)
	require.NoError(t, err)
	defer s.Close()
	require.NotEqual(t, shm.Shard(s), childShard(t, s), "parent and child share a free-list shard")
}

// childShard starts a child on s and returns the free-list shard of s that it claimed.
func childShard(t *testing.T, s *shm.Segment) int {
	h, _ := s.Heap()
	blob, err := h.Alloc(64, blobKind)
	require.NoError(t, err)
	c := testutil.NewCell(t, 64)
	p, err := proc.Start(reportShard, blob, c)
	require.NoError(t, err)
	testutil.WaitOK(t, p)
	require.NotZero(t, c.Get(0), "the child did not report")
	return int(c.Get(0)) - 1
}

// sleeper starts a process that lives until the test ends, and returns its pid and start time.
func sleeper(t *testing.T) (int, uint64) {
	cmd := exec.Command("sleep", "600")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err := pids.StartTime(cmd.Process.Pid)
	require.NoError(t, err)
	return cmd.Process.Pid, start
}

// With every shard claimed, a new process takes the shard of a claimant that is gone before
// that of one whose pid lives on in another process (dead by its start time), and never the
// shard of a live claimant.
func TestHeapShardOfTheDead(t *testing.T) {
	live, start := sleeper(t)
	reaped := exec.Command("/bin/true")
	require.NoError(t, reaped.Run())
	gone := reaped.Process.Pid

	for _, tc := range []struct {
		name  string
		claim [shm.NumShards - 1][2]uint64 // pid and start of shards 1, 2, ...
		want  int
	}{
		{"gone before reused", [3][2]uint64{{uint64(live), start}, {uint64(live), start + 1}, {uint64(gone), 7}}, 3},
		{"reused before live", [3][2]uint64{{uint64(live), start}, {uint64(live), start + 1}, {uint64(live), start}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := shm.Create(1<<20, nil)
			require.NoError(t, err)
			defer s.Close()
			for i, c := range tc.claim {
				shm.ClaimShardFor(s, i+1, int(c[0]), c[1])
			}
			require.Equal(t, tc.want, childShard(t, s), "the child's shard")
		})
	}
}

var _ = proc.Register(reportShard)

// reportShard stores 1 + this process's shard of the segment of blob in word 0 of c.
func reportShard(blob shm.Ref, c *testutil.Cell) error {
	s, _, err := shm.Resolve(blob, blobKind)
	if err != nil {
		return err
	}
	c.Set(0, uint32(shm.Shard(s)+1))
	return nil
}

func TestHeapAcrossProcesses(t *testing.T) {
	n := 300_000 // long enough that the three processes overlap (a child takes ~5 ms to start)
	if testing.Short() {
		n = 30_000
	}
	var ps []*proc.Process
	for range 2 {
		p, err := proc.Start(churnHeap, n, (*stopFlag)(nil))
		require.NoError(t, err)
		ps = append(ps, p)
	}
	require.NoError(t, churnHeap(n, nil))
	for _, p := range ps {
		testutil.WaitOK(t, p)
	}
}

// TestHeapSurvivesKilledAllocator SIGKILLs processes in the middle of allocating and freeing: the
// heap has no lock that a dead process could hold, so the survivors go on.
func TestHeapSurvivesKilledAllocator(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for i := range rounds {
		stop := newStop(t)
		p, err := proc.Start(churnHeap, -1, stop)
		require.NoError(t, err)
		time.Sleep(time.Duration(1+rand.IntN(20)) * time.Millisecond)
		require.NoError(t, p.Kill())
		require.NoError(t, churnHeap(2000, nil), "round %d", i)
		require.NoError(t, p.Join(10*time.Second))
	}
}

func TestCleanStale(t *testing.T) {
	dead := testutil.ShmName(t)
	p, err := proc.Start(createNamedAndHang, dead)
	require.NoError(t, err)
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		s, err := shm.OpenNamed(dead)
		if err != nil {
			return false
		}
		// Closed: a segment this process still held would be in use, and kept.
		return s.Close() == nil
	}))
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(10*time.Second))
	live := testutil.ShmName(t)
	s, err := shm.CreateNamed(live, 8192, nil)
	require.NoError(t, err)
	defer s.Close()
	foreign := writeFile(t, []byte("not ours"))

	removed, err := shm.CleanStale()
	require.NoError(t, err)
	require.Contains(t, removed, dead)
	require.NotContains(t, removed, live)
	require.NotContains(t, removed, foreign)
	_, err = os.Stat(filepath.Join(shm.DevShm, dead))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(shm.DevShm, foreign))
	require.NoError(t, err)
}

// leaveNamed creates a named segment in a child that is then SIGKILLed, and returns its name.
func leaveNamed(t *testing.T) string {
	name := testutil.ShmName(t)
	t.Cleanup(func() { os.Remove(filepath.Join(shm.DevShm, name)) })
	p, err := proc.Start(createNamedAndHang, name)
	require.NoError(t, err)
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(shm.DevShm, name))
		return err == nil
	}))
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		for _, i := range listNamed(t) {
			if i.Name == name {
				return true
			}
		}
		return false
	}), "the child's segment never became valid")
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(10*time.Second))
	return name
}

func listNamed(t *testing.T) []shm.NamedInfo {
	l, err := shm.ListNamed()
	require.NoError(t, err)
	return l
}

// setCreator rewrites a segment file's recorded creator, as a record whose pid was reused looks.
func setCreator(t *testing.T, name string, pid int, start uint64) {
	f, err := os.OpenFile(filepath.Join(shm.DevShm, name), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var b [12]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(pid))
	binary.LittleEndian.PutUint64(b[4:], start)
	_, err = f.WriteAt(b[:4], shm.OffCreator)
	require.NoError(t, err)
	_, err = f.WriteAt(b[4:], shm.OffCreatorStart)
	require.NoError(t, err)
}

// Issue 16: segments left by SIGKILLed creators. One's creator pid now belongs to a live,
// unrelated process (a sleep started here) with another start time: found dead, removed. One
// records that process's own start time: kept. One has a dead creator but is still mapped by this
// process: kept, however dead its creator.
func TestCleanStaleReusedPidAndInUse(t *testing.T) {
	pid, start := sleeper(t)

	reused, live, mapped := leaveNamed(t), leaveNamed(t), leaveNamed(t)
	setCreator(t, reused, pid, start+1)
	setCreator(t, live, pid, start)
	s, err := shm.OpenNamed(mapped)
	require.NoError(t, err)
	defer s.Close()

	byName := map[string]shm.NamedInfo{}
	for _, i := range listNamed(t) {
		byName[i.Name] = i
	}
	require.Equal(t, shm.NamedInfo{Name: reused, Size: 8192, Creator: pid, CreatorStart: start + 1, Stale: true}, byName[reused])
	require.True(t, byName[live].CreatorAlive)
	require.False(t, byName[live].Stale)
	require.False(t, byName[mapped].CreatorAlive)
	require.True(t, byName[mapped].InUse, "a segment this process maps is not seen in use")
	require.False(t, byName[mapped].Stale)

	removed, err := shm.CleanStale()
	require.NoError(t, err)
	require.Contains(t, removed, reused, "a dead creator whose pid was reused looked alive")
	require.NotContains(t, removed, live, "a live creator's segment was removed")
	require.NotContains(t, removed, mapped, "a segment in use was removed")
	_, err = os.Stat(filepath.Join(shm.DevShm, reused))
	require.ErrorIs(t, err, os.ErrNotExist)
	for _, n := range []string{live, mapped} {
		_, err = os.Stat(filepath.Join(shm.DevShm, n))
		require.NoError(t, err, n)
	}
}

func TestConcurrentHeapGoroutines(t *testing.T) {
	s, err := shm.Create(4<<20, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				ref, err := h.Alloc(64+(i%5)*100, blobKind)
				if err != nil {
					errs <- err
					return
				}
				b, _ := s.Object(ref)
				b[0] = byte(g)
				if b[0] != byte(g) {
					errs <- errors.New("block shared")
				}
				if err := h.Free(ref); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// A stale Free (a second Free of a ref, as two processes repairing the same dead writer's work
// may both do) racing Allocs must fail and never free the block a concurrent Alloc is handing
// out or has handed out: each goroutine owns what it allocated, marks it, and checks the mark
// survives until its own Free, while stale Frees of refs already freed keep coming.
func TestStaleFreeNeverFreesAReusedBlock(t *testing.T) {
	s, err := shm.Create(1<<20, nil)
	require.NoError(t, err)
	defer s.Close()
	h, _ := s.Heap()
	stale := make(chan shm.Ref, 1024)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	stop := make(chan struct{})
	for range 2 { // stale freers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case r := <-stale:
					if err := h.Free(r); err == nil {
						errs <- fmt.Errorf("a stale Free of %#x (gen %d) succeeded", r.Off, r.Gen)
						return
					} else if !errors.Is(err, shm.ErrBadRef) {
						errs <- err
						return
					}
				}
			}
		}()
	}
	var owners sync.WaitGroup
	for g := range 4 {
		owners.Add(1)
		go func() {
			defer owners.Done()
			for i := range 20000 {
				ref, err := h.Alloc(48, blobKind)
				if err != nil {
					errs <- err
					return
				}
				b, err := s.Object(ref)
				if err != nil {
					errs <- err
					return
				}
				mark := byte(g*64 + i%64 + 1)
				b[0] = mark
				for range i % 3 {
					runtime.Gosched()
				}
				if b[0] != mark {
					errs <- fmt.Errorf("block %#x changed owner while allocated", ref.Off)
					return
				}
				if err := h.Free(ref); err != nil {
					errs <- fmt.Errorf("own Free of %#x: %w", ref.Off, err)
					return
				}
				select {
				case stale <- ref:
				default:
				}
			}
		}()
	}
	owners.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
