//go:build !amd64

package sha256x2

// useSHANI is false: the SHA-NI code is for amd64 only. (The tests switch
// between implementations through it.)
var useSHANI = false

func block(h *[8]uint32, p []byte) { blockGeneric(h, p) }

func blockPair(a, b *[8]uint32, pa, pb []byte) {
	blockGeneric(a, pa)
	blockGeneric(b, pb)
}
