package ring_test

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// A record left reserved by a producer that died, whose pid a live, unrelated process now has (the
// segment's peer table holds the dead producer's start time), is abandoned and passed: the next
// message is delivered. With the live process recorded under its real start time, the record is
// one being written, and the consumer waits for it. Both with several consumers (the consumer
// lock's path) and with one (the single consumer's).
func TestRecordWriterPidReused(t *testing.T) {
	for _, single := range []bool{false, true} {
		q := newPrivateQueue(t, &ring.Options{Size: 4096, SingleConsumer: single})
		seg := shm.Lookup(q.Ref().Seg)
		pid, real := testutil.ReusedPid(t, seg)
		for _, m := range []string{"cut", "next"} {
			if err := q.Put([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		_, b, err := shm.Resolve(q.Ref(), q.Ref().Kind)
		if err != nil {
			t.Fatal(err)
		}
		state := shm.Word32(b, offData+12)
		const stReserved = 1
		atomic.StoreUint32(state, uint32(pid)<<8|stReserved) // as the dead producer left it
		got, err := q.GetTimeout(10 * time.Second)
		if err != nil || !bytes.Equal(got, []byte("next")) {
			t.Fatalf("single %v: Get after a dead writer with a reused pid: %q, %v", single, got, err)
		}

		// The same with a live writer.
		q2 := newPrivateQueue(t, &ring.Options{Size: 4096, SingleConsumer: single})
		seg2 := shm.Lookup(q2.Ref().Seg)
		testutil.LivePeer(t, seg2, pid, real)
		for _, m := range []string{"being written", "next"} {
			if err := q2.Put([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		_, b2, err := shm.Resolve(q2.Ref(), q2.Ref().Kind)
		if err != nil {
			t.Fatal(err)
		}
		atomic.StoreUint32(shm.Word32(b2, offData+12), uint32(pid)<<8|stReserved)
		if got, err := q2.GetTimeout(300 * time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
			t.Fatalf("single %v: Get passed a live writer's record: %q, %v", single, got, err)
		}
	}
}
