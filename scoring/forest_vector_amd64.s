//go:build amd64 && !purego

#include "textflag.h"

// func vectorMarginsAVX512(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
//
// Per tree: Z0 holds each row's leaf bits, starting all set; a split's
// compare (K1: the rows it sends right) ANDs its keep mask into those
// rows' words. The lowest bit left is the row's leaf: isolated (x & -x),
// its leading zeros are 31 - its index, which is where the leaves are
// stored reversed; a gather fetches the sixteen leaf values and they are
// added to the tree's group margins.
TEXT ·vectorMarginsAVX512(SB), NOSPLIT, $0-48
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

// func vectorMarginsAVX2(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
//
// vectorMargins for AVX2: the 16 rows as two halves of 8 lanes (Y0 rows
// 0-7, Y2 rows 8-15). With no mask registers a compare yields all-ones
// lanes, and a right turn clears the left subtree's bits as
// word &^= mask &^ keep. With no leading-zero count, the lowest bit's
// index is the exponent of its value converted to float (bit 31 converts
// to -2^31, whose sign bit the 0xff mask drops): 158 - exponent is
// 31 - index, the reversed leaf's slot.
TEXT ·vectorMarginsAVX2(SB), NOSPLIT, $0-48
	MOVQ nodes+0(FP), AX
	MOVQ trees+8(FP), BX
	MOVQ numTrees+16(FP), CX
	MOVQ columns+24(FP), DX
	MOVQ leaves+32(FP), SI
	MOVQ margins+40(FP), DI
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
	MOVL 0(BX), R8 // first split
	IMUL3Q $12, R8, R8
	ADDQ AX, R8
	VPCMPEQD Y0, Y0, Y0
	VPCMPEQD Y2, Y2, Y2
	MOVL 4(BX), R9 // splits whose missing values go right
	TESTL R9, R9
	JZ lefts2

rights2:
	MOVL 0(R8), R10
	VBROADCASTSS 4(R8), Y8
	VPBROADCASTD 8(R8), Y9
	VMOVUPS (DX)(R10*1), Y1
	VMOVUPS 32(DX)(R10*1), Y3
	VCMPPS $21, Y8, Y1, Y1 // NLT_UQ: not x < threshold, true for NaN
	VCMPPS $21, Y8, Y3, Y3
	VPANDN Y1, Y9, Y1
	VPANDN Y3, Y9, Y3
	VPANDN Y0, Y1, Y0
	VPANDN Y2, Y3, Y2
	ADDQ $12, R8
	DECL R9
	JNZ rights2

lefts2:
	MOVL 8(BX), R9 // splits whose missing values go left
	TESTL R9, R9
	JZ leaf2

leftsloop2:
	MOVL 0(R8), R10
	VBROADCASTSS 4(R8), Y8
	VPBROADCASTD 8(R8), Y9
	VMOVUPS (DX)(R10*1), Y1
	VMOVUPS 32(DX)(R10*1), Y3
	VCMPPS $29, Y8, Y1, Y1 // GE_OQ: x >= threshold, false for NaN
	VCMPPS $29, Y8, Y3, Y3
	VPANDN Y1, Y9, Y1
	VPANDN Y3, Y9, Y3
	VPANDN Y0, Y1, Y0
	VPANDN Y2, Y3, Y2
	ADDQ $12, R8
	DECL R9
	JNZ leftsloop2

leaf2:
	MOVL 12(BX), R10
	LEAQ (SI)(R10*1), R11
	MOVL 16(BX), R10
	// rows 0-7
	VPSUBD Y0, Y7, Y1
	VPAND Y1, Y0, Y1
	VCVTDQ2PS Y1, Y1
	VPSRLD $23, Y1, Y1
	VPAND Y6, Y1, Y1
	VPSUBD Y1, Y5, Y1
	VPCMPEQD Y4, Y4, Y4
	VGATHERDPS Y4, (R11)(Y1*4), Y10
	VADDPS (DI)(R10*1), Y10, Y10
	VMOVUPS Y10, (DI)(R10*1)
	// rows 8-15
	VPSUBD Y2, Y7, Y3
	VPAND Y3, Y2, Y3
	VCVTDQ2PS Y3, Y3
	VPSRLD $23, Y3, Y3
	VPAND Y6, Y3, Y3
	VPSUBD Y3, Y5, Y3
	VPCMPEQD Y4, Y4, Y4
	VGATHERDPS Y4, (R11)(Y3*4), Y11
	VADDPS 32(DI)(R10*1), Y11, Y11
	VMOVUPS Y11, 32(DI)(R10*1)
	ADDQ $20, BX
	DECQ CX
	JNZ tree2

done2:
	VZEROUPPER
	RET
