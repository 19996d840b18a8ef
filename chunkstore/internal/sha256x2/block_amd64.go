//go:generate go run gen.go

package sha256x2

import "github.com/klauspost/cpuid/v2"

// useSHANI: the generated code needs the SHA extensions, and AVX, SSE4.1
// and SSSE3 around them (as crypto/sha256's own SHA-NI code does).
var useSHANI = cpuid.CPU.Supports(cpuid.SHA, cpuid.AVX, cpuid.SSE4, cpuid.SSSE3)

//go:noescape
func blockSHANI(h *[8]uint32, p []byte)

//go:noescape
func blockX2(a, b *[8]uint32, pa, pb []byte)

func block(h *[8]uint32, p []byte) {
	if useSHANI {
		blockSHANI(h, p)
	} else {
		blockGeneric(h, p)
	}
}

// blockPair hashes pa into a and pb into b; len(pb) is at least len(pa).
func blockPair(a, b *[8]uint32, pa, pb []byte) {
	pb = pb[:len(pa)] // blockX2 reads len(pa) bytes of each
	if useSHANI {
		blockX2(a, b, pa, pb)
	} else {
		blockGeneric(a, pa)
		blockGeneric(b, pb)
	}
}
