//go:build amd64 && !purego

#include "textflag.h"

// Both kernels take (nodes *vectorNode, trees *vectorTree, numTrees int,
// columns *float32, leaves *float32, margins *float32) and walk the trees
// alike: per tree, the splits whose missing values go right (compared with
// NLT_UQ, 21: not x < threshold, true for NaN), then those whose missing
// values go left (GE_OQ, 29: x >= threshold, false for NaN), then the leaf.
// A vectorNode is 12 bytes (column offset, threshold, keep mask), a
// vectorTree 20 (first split, rights, lefts, leaves offset, margin offset).

#define LOAD_ARGS \
	MOVQ nodes+0(FP), AX; \
	MOVQ trees+8(FP), BX; \
	MOVQ numTrees+16(FP), CX; \
	MOVQ columns+24(FP), DX; \
	MOVQ leaves+32(FP), SI; \
	MOVQ margins+40(FP), DI

// FIRST_SPLIT points R8 at the tree's first split.
#define FIRST_SPLIT \
	MOVL 0(BX), R8; \
	IMUL3Q $12, R8, R8; \
	ADDQ AX, R8

// SPLIT512 compares the split at R8 for the 16 rows (K1: those it sends
// right) and ANDs its keep mask into those rows' leaf bits in Z0.
#define SPLIT512(pred) \
	MOVL 0(R8), R10; \
	VMOVUPS (DX)(R10*1), Z1; \
	VCMPPS.BCST $pred, 4(R8), Z1, K1; \
	VPANDD.BCST 8(R8), Z0, K1, Z0; \
	ADDQ $12, R8

// func vectorMarginsAVX512(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
//
// Z0 holds each row's leaf bits, starting all set. The lowest bit left is
// the row's leaf: isolated (x & -x), its leading zeros are 31 - its index,
// which is where the leaves are stored reversed; a gather fetches the
// sixteen leaf values and they are added to the tree's group margins.
TEXT ·vectorMarginsAVX512(SB), NOSPLIT, $0-48
	LOAD_ARGS
	TESTQ CX, CX
	JZ done
	VPXORD Z7, Z7, Z7

tree:
	FIRST_SPLIT
	VPTERNLOGD $0xff, Z0, Z0, Z0
	MOVL 4(BX), R9
	TESTL R9, R9
	JZ lefts

rights:
	SPLIT512(21)
	DECL R9
	JNZ rights

lefts:
	MOVL 8(BX), R9
	TESTL R9, R9
	JZ leaf

leftsloop:
	SPLIT512(29)
	DECL R9
	JNZ leftsloop

leaf:
	VPSUBD Z0, Z7, Z2
	VPANDD Z2, Z0, Z2
	VPLZCNTD Z2, Z2
	MOVL 12(BX), R10
	LEAQ (SI)(R10*1), R11
	KXNORW K2, K2, K2
	VGATHERDPS (R11)(Z2*4), K2, Z3
	MOVL 16(BX), R10
	VADDPS (DI)(R10*1), Z3, Z3
	VMOVUPS Z3, (DI)(R10*1)
	ADDQ $20, BX
	DECQ CX
	JNZ tree

done:
	VZEROUPPER
	RET

// SPLIT256 is SPLIT512 for two halves of 8 rows (leaf bits in Y0 and Y2):
// with no mask registers a compare yields all-ones lanes, and a right turn
// clears the left subtree's bits as word &^= mask &^ keep.
#define SPLIT256(pred) \
	MOVL 0(R8), R10; \
	VBROADCASTSS 4(R8), Y8; \
	VPBROADCASTD 8(R8), Y9; \
	VMOVUPS (DX)(R10*1), Y1; \
	VMOVUPS 32(DX)(R10*1), Y3; \
	VCMPPS $pred, Y8, Y1, Y1; \
	VCMPPS $pred, Y8, Y3, Y3; \
	VPANDN Y1, Y9, Y1; \
	VPANDN Y3, Y9, Y3; \
	VPANDN Y0, Y1, Y0; \
	VPANDN Y2, Y3, Y2; \
	ADDQ $12, R8

// LEAF256 adds the leaves of the 8 rows whose leaf bits are in word to
// their margins at off(DI)(R10*1), leaves at R11. With no leading-zero
// count, the lowest bit's index is the exponent of its value converted to
// float (bit 31 converts to -2^31, whose sign bit the 0xff mask in Y6
// drops): 158 (Y5) - exponent is 31 - index, the reversed leaf's slot.
#define LEAF256(word, tmp, dst, off) \
	VPSUBD word, Y7, tmp; \
	VPAND tmp, word, tmp; \
	VCVTDQ2PS tmp, tmp; \
	VPSRLD $23, tmp, tmp; \
	VPAND Y6, tmp, tmp; \
	VPSUBD tmp, Y5, tmp; \
	VPCMPEQD Y4, Y4, Y4; \
	VGATHERDPS Y4, (R11)(tmp*4), dst; \
	VADDPS off(DI)(R10*1), dst, dst; \
	VMOVUPS dst, off(DI)(R10*1)

// func vectorMarginsAVX2(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
TEXT ·vectorMarginsAVX2(SB), NOSPLIT, $0-48
	LOAD_ARGS
	TESTQ CX, CX
	JZ done2
	VPXOR Y7, Y7, Y7
	MOVL $158, R12
	VMOVD R12, X5
	VPBROADCASTD X5, Y5
	MOVL $0xff, R12
	VMOVD R12, X6
	VPBROADCASTD X6, Y6

tree2:
	FIRST_SPLIT
	VPCMPEQD Y0, Y0, Y0
	VPCMPEQD Y2, Y2, Y2
	MOVL 4(BX), R9
	TESTL R9, R9
	JZ lefts2

rights2:
	SPLIT256(21)
	DECL R9
	JNZ rights2

lefts2:
	MOVL 8(BX), R9
	TESTL R9, R9
	JZ leaf2

leftsloop2:
	SPLIT256(29)
	DECL R9
	JNZ leftsloop2

leaf2:
	MOVL 12(BX), R10
	LEAQ (SI)(R10*1), R11
	MOVL 16(BX), R10
	LEAF256(Y0, Y1, Y10, 0)
	LEAF256(Y2, Y3, Y11, 32)
	ADDQ $20, BX
	DECQ CX
	JNZ tree2

done2:
	VZEROUPPER
	RET
