package ring

// The layout of a queue in its heap block. Every word is little-endian, naturally aligned and
// touched only with sync/atomic. Positions (tail, read, head) are byte positions that only grow;
// a position's place in the data area is pos & (capacity-1).
//
//	offset size field                         written by
//	     0    4 magic "RNG1"                  creator
//	     4    4 layout version (4)            creator
//	     8    8 capacity C of the data area   creator (a power of two, >= minCap)
//	    16    4 flags (single producer/consumer, joinable)
//	    20    4 max message bytes (0: none)   creator
//	    24    4 max messages (0: none)        creator
//	    32    4 owner: pid of the single producer that produced last  single producers
//	    64    8 producer lock (internal/robust: owner pid | waiters | recovered) producers
//	    72    8 tail: end of the reserved records            producers, under the producer lock
//	    80    8 put count: records published | position tag   producers, under the producer lock
//	   128    8 consumer lock (internal/robust, as the producer lock)   consumers
//	   136    8 read: first record not yet claimed           consumers, under the consumer lock
//	   144    8 head: first record whose space is not free   any consumer (CAS), any waiter (reaping)
//	   152    8 got count: records passed | position tag      consumers, under the consumer lock
//	          (the count words: see count.go)
//	   192    4 put sequence: bumped when a record is committed and a consumer waits
//	   196    4 a consumer may sleep (flag)
//	   256    4 get sequence: bumped when space is freed and a producer waits
//	   260    4 a producer may sleep (flag)
//	   320    4 shut down (0 open, 1 shut down: Shutdown, by any process)
//	   324    4 unfinished tasks (JoinableQueue)
//	   328    4 join sequence
//	   332    4 a joiner may sleep (flag)
//	   336   16 two spare spill blocks: offset/64 | generation<<40 (0: none)
//	   384    C data area: records
//
// A record starts on a 16-byte boundary with a 16-byte header, then its payload, padded to 16:
//
//	+0  8 pos: the record's own position, stored last: consumers find a record by this word
//	      (they need not read tail), because producers keep the word at tail from naming tail
//	      until a record there is published: before they publish a record they mark the place
//	      after it with noRecord (so a queue always keeps 16 bytes free for that mark)
//	+8  4 len: payload bytes (for a spilled record, the message's length)
//	+12 4 state: pid<<8 | flags<<4 | state
const (
	offMagic    = 0
	offVersion  = 4
	offCap      = 8
	offFlags    = 16
	offMaxMsg   = 20
	offMaxMsgs  = 24
	offOwner    = 32
	offPLock    = 64
	offTail     = 72
	offNPut     = 80
	offCLock    = 128
	offRead     = 136
	offHead     = 144
	offNGot     = 152
	offPutSeq   = 192
	offConsWait = 196
	offGetSeq   = 256
	offProdWait = 260
	offClosed   = 320
	offUnfin    = 324
	offJoinSeq  = 328
	offJoinWait = 332
	offSpare    = 336
	headerSize  = 384

	magic   = 0x31474e52 // "RNG1"
	version = 4

	// noRecord is what the position word at tail holds until a record is published there: no
	// record has it, positions being multiples of recAlign.
	noRecord = 1

	recHeader = 16
	recAlign  = 16
	spillBody = 16 // a spilled record's payload: block offset u64, generation u32, pad u32

	minCap = 1 << 10
	maxCap = 1 << 30
)

// Queue flags.
const (
	flagSingleProducer = 1 << iota
	flagSingleConsumer
	flagJoinable
)

// Record states, in the low 4 bits of a record's state word.
const (
	stReserved  = 1 + iota // a producer (pid in the word) is writing the payload
	stCommitted            // the payload is complete; no consumer has it yet
	stClaimed              // a consumer (pid in the word) is copying the payload out
	stDone                 // consumed; its space may be reused
	stAbandoned            // its producer died before committing, or its consumer died copying
	stSkip                 // padding to the end of the data area, so no record straddles it
)

// Record flags, in bits 4..7 of the state word.
const recSpilled = 1 // the payload is a reference to a heap block holding the message

func stateWord(pid int, flags, state uint32) uint32 { return uint32(pid)<<8 | flags<<4 | state }
func stateOf(w uint32) uint32                       { return w & 15 }
func flagsOf(w uint32) uint32                       { return w >> 4 & 15 }
func pidOf(w uint32) int                            { return int(w >> 8) }

func align(n uint64) uint64 { return (n + recAlign - 1) &^ (recAlign - 1) }
