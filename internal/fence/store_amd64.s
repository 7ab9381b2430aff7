#include "textflag.h"

// func StoreRelease(p *uint64, v uint64)
// An ordinary store: amd64 (TSO) never makes a store visible before an earlier one, and the
// call is a compiler barrier.
TEXT ·StoreRelease(SB),NOSPLIT,$0-16
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), BX
	MOVQ	BX, (AX)
	RET

// func PrefetchW(p *byte)
TEXT ·PrefetchW(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	BYTE	$0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	RET
