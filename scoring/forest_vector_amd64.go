//go:build amd64 && !purego

package scoring

import "golang.org/x/sys/cpu"

// vectorKernels lists the vector kernels this CPU (and the OS, which must
// save the wider registers) runs, the preferred first: AVX-512F with CD
// for its leading-zero count (half the instructions: as fast as AVX2 on
// AMD Zen 4, which splits 512-bit operations; 10-20 % faster on an Intel
// Xeon, which runs them at full width), then AVX2.
func vectorKernels() []vectorKernel {
	var kernels []vectorKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD {
		kernels = append(kernels, kernelAVX512)
	}
	if cpu.X86.HasAVX2 {
		kernels = append(kernels, kernelAVX2)
	}
	return kernels
}

// vectorMargins runs kernel k over the block (forest_vector.go has the
// layout). Each kernel is called by name so that the compiler sees that
// its pointers do not escape (a func value would hide it).
func vectorMargins(k vectorKernel, nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32) {
	if k == kernelAVX512 {
		vectorMarginsAVX512(nodes, trees, numTrees, columns, leaves, margins)
	} else {
		vectorMarginsAVX2(nodes, trees, numTrees, columns, leaves, margins)
	}
}

// vectorMarginsAVX512 adds, for each of the numTrees trees, the leaf each
// of the blockRows rows in columns reaches to that row's lane of the
// tree's output group in margins.
//
//go:noescape
func vectorMarginsAVX512(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)

// vectorMarginsAVX2 is vectorMarginsAVX512 with 8-lane registers.
//
//go:noescape
func vectorMarginsAVX2(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
