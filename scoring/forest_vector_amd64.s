//go:build amd64 && !purego

#include "textflag.h"

// func vectorMargins(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
//
// Per tree: Z0 holds each row's leaf bits, starting all set; a split's
// compare (K1: the rows it sends right) ANDs its keep mask into those
// rows' words. The lowest bit left is the row's leaf: isolated (x & -x),
// its leading zeros are 31 - its index, which is where the leaves are
// stored reversed; a gather fetches the sixteen leaf values and they are
// added to the tree's group margins.
TEXT ·vectorMargins(SB), NOSPLIT, $0-48
	MOVQ nodes+0(FP), AX
	MOVQ trees+8(FP), BX
	MOVQ numTrees+16(FP), CX
	MOVQ columns+24(FP), DX
	MOVQ leaves+32(FP), SI
	MOVQ margins+40(FP), DI
	TESTQ CX, CX
	JZ done
	VPXORD Z7, Z7, Z7

tree:
	MOVL 0(BX), R8 // first split
	IMUL3Q $12, R8, R8
	ADDQ AX, R8
	VPTERNLOGD $0xff, Z0, Z0, Z0
	MOVL 4(BX), R9 // splits whose missing values go right
	TESTL R9, R9
	JZ lefts

rights:
	MOVL 0(R8), R10
	VMOVUPS (DX)(R10*1), Z1
	VCMPPS.BCST $21, 4(R8), Z1, K1 // NLT_UQ: not x < threshold, true for NaN
	VPANDD.BCST 8(R8), Z0, K1, Z0
	ADDQ $12, R8
	DECL R9
	JNZ rights

lefts:
	MOVL 8(BX), R9 // splits whose missing values go left
	TESTL R9, R9
	JZ leaf

leftsloop:
	MOVL 0(R8), R10
	VMOVUPS (DX)(R10*1), Z1
	VCMPPS.BCST $29, 4(R8), Z1, K1 // GE_OQ: x >= threshold, false for NaN
	VPANDD.BCST 8(R8), Z0, K1, Z0
	ADDQ $12, R8
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
