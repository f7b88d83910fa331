package etl

import (
	"encoding/binary"
	"math/bits"
)

// vocabIndex finds a value's index in a vocabulary without allocating: an
// open-addressing table over a multiplicative hash of the value's first and
// last 8 bytes. Each slot keeps the first 8 bytes and the length, so values
// of up to 8 bytes (most NSL-KDD ones) compare as one word. Faster than a
// map for these short keys.
type vocabIndex struct {
	vocab []string
	slots []vocabSlot
	shift uint
}

type vocabSlot struct {
	index  int32 // vocabulary index + 1; 0 is empty
	length int32
	prefix uint64 // the first 8 bytes, zero-padded
}

func newVocabIndex(vocab []string) vocabIndex {
	size := 8
	for size < 4*len(vocab) {
		size <<= 1
	}
	x := vocabIndex{vocab: vocab, slots: make([]vocabSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	mask := uint64(size - 1)
	for i, v := range vocab {
		prefix, h := vocabHash([]byte(v))
		h >>= x.shift
		for x.slots[h].index != 0 {
			h = (h + 1) & mask
		}
		x.slots[h] = vocabSlot{index: int32(i + 1), length: int32(len(v)), prefix: prefix}
	}
	return x
}

// lookup returns the index of value in the vocabulary, or -1.
func (x *vocabIndex) lookup(value []byte) int {
	prefix, h := vocabHash(value)
	mask := uint64(len(x.slots) - 1)
	for h >>= x.shift; ; h = (h + 1) & mask {
		s := &x.slots[h]
		if s.index == 0 {
			return -1
		}
		if s.prefix == prefix && int(s.length) == len(value) && (len(value) <= 8 || x.vocab[s.index-1] == string(value)) {
			return int(s.index - 1)
		}
	}
}

// vocabHash returns the zero-padded first 8 bytes of v and a hash mixing
// them with the last 8 bytes and the length.
func vocabHash(v []byte) (prefix, hash uint64) {
	if len(v) >= 8 {
		prefix = binary.LittleEndian.Uint64(v)
		hash = prefix ^ bits.RotateLeft64(binary.LittleEndian.Uint64(v[len(v)-8:]), 29)
	} else {
		var buf [8]byte
		copy(buf[:], v)
		prefix = binary.LittleEndian.Uint64(buf[:])
		hash = prefix
	}
	return prefix, (hash ^ uint64(len(v))<<59) * 0x9e3779b97f4a7c15
}
