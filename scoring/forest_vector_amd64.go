//go:build amd64 && !purego

package scoring

import "golang.org/x/sys/cpu"

// vectorKernelAvailable reports whether the CPU (and the OS, which must
// save the AVX-512 registers) runs vectorMargins: AVX-512F, and CD for its
// leading-zero count.
func vectorKernelAvailable() bool {
	return cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD
}

// vectorMargins adds, for each of the numTrees trees, the leaf each of the
// blockRows rows in columns reaches to that row's lane of the tree's
// output group in margins (forest_vector.go has the layout).
//
//go:noescape
func vectorMargins(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32)
