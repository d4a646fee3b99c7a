package store

import (
	"math/bits"

	"github.com/payswitch/payswitch/ledger"
)

// idFilter is a fixed-size, cache-blocked Bloom filter of transfer IDs. A
// "no" is certain and saves the Pebble read that proves a new ID new; a
// "maybe" costs that read. All probes of one ID fall in one 64-byte block,
// so a lookup or insert touches one cache line rather than seven. Its size
// is fixed at open, so memory stays bounded however many transfers the
// ledger holds; past its design load the false-positive rate climbs and
// reads come back, but answers stay exact.
type idFilter struct {
	blocks    [][8]uint64 // 512 bits each
	blockMask uint64      // number of blocks - 1; a power of two
}

const filterProbes = 7

func newIDFilter(bytes int) *idFilter {
	blocksWanted := uint64(bytes) / 64
	n := uint64(1) << (63 - bits.LeadingZeros64(blocksWanted)) // round down to a power of two
	return &idFilter{blocks: make([][8]uint64, n), blockMask: n - 1}
}

// probes derives the block and a 64-bit probe source from the ID. Client
// IDs may be sequential, so the halves are mixed (the splitmix64
// finaliser) rather than used as they are. Both results depend on both
// halves: most client IDs have a zero high half, and a block chosen by
// that half alone put them all in one block, which then said "maybe" to
// every new ID.
func probes(id ledger.ID) (block uint64, h uint64) {
	h1 := mix(id.Hi() ^ 0x9e3779b97f4a7c15)
	h2 := mix(id.Lo() ^ h1)
	return h2, mix(h2 ^ h1)
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Each probe takes 9 bits of h: which of the block's 512 bits to test.
// Seven probes use 63 of h's 64 bits.

func (f *idFilter) add(id ledger.ID) {
	block, h := probes(id)
	b := &f.blocks[block&f.blockMask]
	for i := 0; i < filterProbes; i++ {
		bit := h & 511
		b[bit/64] |= 1 << (bit % 64)
		h >>= 9
	}
}

func (f *idFilter) mayContain(id ledger.ID) bool {
	block, h := probes(id)
	b := &f.blocks[block&f.blockMask]
	for i := 0; i < filterProbes; i++ {
		bit := h & 511
		if b[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
		h >>= 9
	}
	return true
}
