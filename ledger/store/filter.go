package store

import (
	"math/bits"

	"github.com/payswitch/payswitch/ledger"
)

// idFilter is a fixed-size Bloom filter of transfer IDs. A "no" is
// certain and saves the Pebble read that proves a new ID new; a "maybe"
// costs that read. Its size is fixed at open, so memory stays bounded
// however many transfers the ledger holds; past its design load the false
// positive rate climbs and reads come back, but answers stay exact.
type idFilter struct {
	words []uint64
	mask  uint64 // number of bits - 1; the size is a power of two
}

const filterProbes = 7

func newIDFilter(bytes int) *idFilter {
	bitsWanted := uint64(bytes) * 8
	size := uint64(1) << (63 - bits.LeadingZeros64(bitsWanted)) // round down to a power of two
	return &idFilter{words: make([]uint64, size/64), mask: size - 1}
}

// probes derives two independent 64-bit hashes from the ID. Client IDs may
// be sequential, so the halves are mixed (the splitmix64 finaliser) rather
// than used as they are.
func probes(id ledger.ID) (uint64, uint64) {
	h1 := mix(id.Hi() ^ 0x9e3779b97f4a7c15)
	h2 := mix(id.Lo() ^ h1)
	return h1, h2 | 1
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (f *idFilter) add(id ledger.ID) {
	h1, h2 := probes(id)
	for i := uint64(0); i < filterProbes; i++ {
		bit := (h1 + i*h2) & f.mask
		f.words[bit/64] |= 1 << (bit % 64)
	}
}

func (f *idFilter) mayContain(id ledger.ID) bool {
	h1, h2 := probes(id)
	for i := uint64(0); i < filterProbes; i++ {
		bit := (h1 + i*h2) & f.mask
		if f.words[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}
