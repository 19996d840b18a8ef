module github.com/ferry-mesh/ferry

go 1.26.0

require (
	github.com/klauspost/compress v1.20.4
	github.com/minio/sha256-simd v1.0.1
)

require (
	github.com/klauspost/cpuid/v2 v2.2.3 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
