package release

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// benchLayer writes a layer tar of n files (sizes 1 KiB to 4 MiB, half
// incompressible, half text) with the given mtime to path, streaming, and
// returns its diffID.
func benchLayer(b *testing.B, path string, seed uint64, n int, mtime time.Time) string {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := chunkstore.NewHash()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	text := []byte(strings.Repeat("openmrs concept reference term mapping; ", 1<<10))
	for i := 0; i < n; i++ {
		size := 1<<10 + int(seed*uint64(i+7)*2654435761%uint64(4<<20))
		if i%8 != 0 {
			size /= 16
		}
		body := imagetest.Noise(seed+uint64(i), size)
		if i%2 == 1 {
			for j := range body {
				body[j] = text[j%len(text)]
			}
		}
		hdr := &tar.Header{Name: fmt.Sprintf("opt/app/lib/file-%05d.jar", i), Size: int64(size), Mode: 0o644, ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			b.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	return DigestOf(h.Sum(nil)).Hex()
}

// benchArchive writes a docker save archive (legacy layout) of one image
// with two generated layers, streaming; it returns the layer paths too.
func benchArchive(b *testing.B, dir string, mtime time.Time) (string, []string) {
	var diffIDs, layers []string
	for i, n := range []int{600, 300} {
		p := filepath.Join(dir, fmt.Sprintf("layer%d-%d.tar", i, mtime.Unix()))
		diffIDs = append(diffIDs, "sha256:"+benchLayer(b, p, uint64(i+1), n, mtime))
		layers = append(layers, p)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgID := chunkstore.Hash(cfg)
	cfgName := cfgID.String() + ".json"
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"ferry-bench/app:1"},
		"Layers": []string{Digest(diffIDs[0]).Hex() + "/layer.tar", Digest(diffIDs[1]).Hex() + "/layer.tar"}}})
	path := filepath.Join(dir, fmt.Sprintf("images-%d.tar", mtime.Unix()))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, size int64, r io.Reader) {
		tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: mtime})
		if _, err := io.Copy(tw, r); err != nil {
			b.Fatal(err)
		}
	}
	add(cfgName, int64(len(cfg)), strings.NewReader(string(cfg)))
	for i, l := range layers {
		lf, _ := os.Open(l)
		fi, _ := lf.Stat()
		add(Digest(diffIDs[i]).Hex()+"/layer.tar", fi.Size(), lf)
		lf.Close()
	}
	add("manifest.json", int64(len(man)), strings.NewReader(string(man)))
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	return path, layers
}

// BenchmarkPack measures Pack and WriteArchive on a generated ~150 MB image
// against a baseline of the same run: chunking the raw layer tars with
// WriteStream (no split). It also measures what a rebuild that changes only
// mtimes adds to the store, split versus raw.
func BenchmarkPack(b *testing.B) {
	dir := b.TempDir()
	v1, raw1 := benchArchive(b, dir, imagetest.Epoch)
	v2, raw2 := benchArchive(b, dir, imagetest.Epoch.Add(24*time.Hour))
	fi, _ := os.Stat(v1)
	mb := float64(fi.Size()) / 1e6
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		cs, err := chunkstore.Open(filepath.Join(b.TempDir(), "split"))
		if err != nil {
			b.Fatal(err)
		}
		peak := watchHeap()
		start := time.Now()
		p, err := Pack(ctx, cs, PackOptions{Inputs: []string{v1}})
		if err != nil {
			b.Fatal(err)
		}
		packSecs := time.Since(start).Seconds()
		packPeak := peak()
		u1, _ := cs.Usage()

		peak = watchHeap()
		start = time.Now()
		if err := WriteArchive(ctx, io.Discard, cs, manifestOf(p), nil); err != nil {
			b.Fatal(err)
		}
		outSecs := time.Since(start).Seconds()
		outPeak := peak()

		if _, err := Pack(ctx, cs, PackOptions{Inputs: []string{v2}}); err != nil {
			b.Fatal(err)
		}
		u2, _ := cs.Usage()
		cs.Close()

		// Baseline: the raw layer tars, chunked as they are.
		raw, err := chunkstore.Open(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for _, l := range raw1 {
			f, _ := os.Open(l)
			if _, _, err := raw.WriteStream(ctx, f, chunkstore.ChunkerParams{}); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		rawSecs := time.Since(start).Seconds()
		r1, _ := raw.Usage()
		for _, l := range raw2 {
			f, _ := os.Open(l)
			raw.WriteStream(ctx, f, chunkstore.ChunkerParams{})
			f.Close()
		}
		r2, _ := raw.Usage()
		raw.Close()

		b.ReportMetric(mb/packSecs, "pack-MB/s")
		b.ReportMetric(mb/rawSecs, "baseline-raw-chunking-MB/s")
		b.ReportMetric(rawSecs/packSecs, "pack/baseline-speed")
		b.ReportMetric(mb/outSecs, "archive-out-MB/s")
		b.ReportMetric(float64(packPeak>>20), "pack-peak-heap-MiB")
		b.ReportMetric(float64(outPeak>>20), "out-peak-heap-MiB")
		b.ReportMetric(100*float64(u2.StoredBytes-u1.StoredBytes)/float64(u1.StoredBytes), "mtime-rebuild-new-%-split")
		b.ReportMetric(100*float64(r2.StoredBytes-r1.StoredBytes)/float64(r1.StoredBytes), "mtime-rebuild-new-%-raw")
	}
}
