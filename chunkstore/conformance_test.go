package chunkstore_test

import (
	"testing"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/chunkstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, chunkstore.Open)
}

// TestConformanceSmallBatches runs the suite with settings that stress the
// stream pipeline: one worker, the smallest in-flight budget, a sync after
// every chunk's batch.
func TestConformanceSmallBatches(t *testing.T) {
	storetest.Run(t, func(dir string) (*chunkstore.Store, error) {
		return chunkstore.OpenConfig(dir, chunkstore.Config{Workers: 1, MaxInFlight: 1, SyncBatch: 1})
	})
}
