package etl

import (
	"encoding/binary"
	"math/bits"
)

// vocabIndex finds a value's index in a vocabulary without allocating: an
// open-addressing table over a multiplicative hash of the value's first and
// last 8 bytes, faster than a map for these short keys.
type vocabIndex struct {
	vocab []string
	slots []int32 // vocabulary index + 1; 0 is empty
	shift uint
}

func newVocabIndex(vocab []string) vocabIndex {
	size := 8
	for size < 4*len(vocab) {
		size <<= 1
	}
	x := vocabIndex{vocab: vocab, slots: make([]int32, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	mask := uint64(size - 1)
	for i, v := range vocab {
		h := vocabHash(v) >> x.shift
		for x.slots[h] != 0 {
			h = (h + 1) & mask
		}
		x.slots[h] = int32(i + 1)
	}
	return x
}

// lookup returns the index of value in the vocabulary, or -1.
func (x *vocabIndex) lookup(value []byte) int {
	mask := uint64(len(x.slots) - 1)
	for h := vocabHash(value) >> x.shift; ; h = (h + 1) & mask {
		s := x.slots[h]
		if s == 0 {
			return -1
		}
		if x.vocab[s-1] == string(value) {
			return int(s - 1)
		}
	}
}

// vocabHash mixes the length with the first and last 8 bytes.
func vocabHash[T []byte | string](v T) uint64 {
	var w uint64
	if len(v) >= 8 {
		w = binary.LittleEndian.Uint64([]byte(v[:8])) ^ bits.RotateLeft64(binary.LittleEndian.Uint64([]byte(v[len(v)-8:])), 29)
	} else {
		for i := range len(v) {
			w |= uint64(v[i]) << (8 * i)
		}
	}
	return (w ^ uint64(len(v))<<59) * 0x9e3779b97f4a7c15
}
