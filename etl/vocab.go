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
		prefix := prefixOf([]byte(v))
		h := vocabHash(prefix, []byte(v)) >> x.shift
		for x.slots[h].index != 0 {
			h = (h + 1) & mask
		}
		x.slots[h] = vocabSlot{index: int32(i + 1), length: int32(len(v)), prefix: prefix}
	}
	return x
}

// lookup returns the index of value in the vocabulary, or -1.
func (x *vocabIndex) lookup(value []byte) int {
	return x.lookupIn(value, 0, len(value))
}

// lookupIn looks up line[start:end]. With 8 bytes left in the line, the
// prefix is read in place rather than copied.
func (x *vocabIndex) lookupIn(line []byte, start, end int) int {
	value := line[start:end]
	var prefix uint64
	if start+8 <= len(line) {
		prefix = binary.LittleEndian.Uint64(line[start:])
		if len(value) < 8 {
			prefix &= lowLanes(len(value))
		}
	} else {
		prefix = prefixOf(value)
	}
	mask := uint64(len(x.slots) - 1)
	for h := vocabHash(prefix, value) >> x.shift; ; h = (h + 1) & mask {
		s := &x.slots[h]
		if s.index == 0 {
			return -1
		}
		if s.prefix == prefix && int(s.length) == len(value) && (len(value) <= 8 || x.vocab[s.index-1] == string(value)) {
			return int(s.index - 1)
		}
	}
}

// prefixOf returns the first 8 bytes of v, zero-padded.
func prefixOf(v []byte) uint64 {
	if len(v) >= 8 {
		return binary.LittleEndian.Uint64(v)
	}
	var buf [8]byte
	copy(buf[:], v)
	return binary.LittleEndian.Uint64(buf[:])
}

// vocabHash mixes v's prefix with its last 8 bytes and its length.
func vocabHash(prefix uint64, v []byte) uint64 {
	h := prefix
	if len(v) > 8 {
		h ^= bits.RotateLeft64(binary.LittleEndian.Uint64(v[len(v)-8:]), 29)
	}
	return (h ^ uint64(len(v))<<59) * 0x9e3779b97f4a7c15
}
