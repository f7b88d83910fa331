//go:build !amd64 || purego

package scoring

// vectorKernelAvailable is false: the vector kernel is written for amd64.
func vectorKernelAvailable() bool { return false }

// vectorMargins is never called, since buildVector lays out no forest for
// it on this architecture.
func vectorMargins(nodes *vectorNode, trees *vectorTree, numTrees int, columns *float32, leaves *float32, margins *float32) {
	panic("scoring: no vector kernel on this architecture")
}
