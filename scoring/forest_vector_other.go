//go:build !amd64 || purego

package scoring

// vectorKernels is empty: the vector kernels are written for amd64.
func vectorKernels() []vectorKernel { return nil }

// vectorMargins is never called, since buildVector lays out no forest for
// it on this architecture.
func vectorMargins(k vectorKernel, nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32) {
	panic("scoring: no vector kernel on this architecture")
}
