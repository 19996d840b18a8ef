package release

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// PackOptions says which images to pack and how.
type PackOptions struct {
	// Inputs are paths: docker save tars (.tar, .tar.gz, .tgz; legacy and
	// OCI layout), air-gapper bundles, OCI image layout directories.
	Inputs []string
	// Engine are image references to take from the local Docker Engine;
	// `docker save` streams them, nothing is written to disk.
	Engine   []string
	Chunking chunkstore.ChunkerParams
	// Progress, when set, is called from Pack's goroutine with the input
	// bytes consumed so far and their total (0 when unknown, as for Engine).
	Progress func(done, total int64)
	// Discard, when set, is given the chunks Pack added but does not keep
	// (all of them when it fails) instead of Pack deleting them: a caller
	// that shares the store with other writers removes them safely later
	// (see Store.discard). Called at most once, from Pack's goroutine.
	Discard func(ids []chunkstore.ID)
}

// Packed is what Pack stored.
type Packed struct {
	Images []Image         // tags, config digest, ordered layer diffIDs
	Blobs  []Blob          // every config and layer once
	Added  []chunkstore.ID // chunks new to the store (the caller deletes them if it fails later)
}

// Pack reads the images of every input and stores their configs and layers
// in cs: layers uncompressed and split by packLayer, configs as they are.
// Images from several inputs merge; a tag that names different images in
// two inputs is an error. On any error Pack deletes the chunks it added, so
// the store is as it was. Chunks of layers that no image uses are not kept.
func Pack(ctx context.Context, cs *chunkstore.Store, opt PackOptions) (*Packed, error) {
	if len(opt.Inputs) == 0 && len(opt.Engine) == 0 {
		return nil, fmt.Errorf("pack images: no input and no image to take from the Docker Engine")
	}
	if _, err := chunkstore.NewChunker(nil, opt.Chunking); err != nil {
		return nil, fmt.Errorf("pack images: %w", err)
	}
	pk := &packer{ctx: ctx, cs: cs, p: opt.Chunking}
	var drop []chunkstore.ID
	discard := func() {
		if opt.Discard != nil {
			opt.Discard(drop)
			return
		}
		cs.Delete(drop...)
	}
	ok := false
	defer func() {
		if !ok {
			drop = pk.added
		}
		discard()
	}()

	layers := map[Digest]Blob{}
	iopt := imagesrc.Options{Layer: func(l imagesrc.Layer, r io.Reader) (string, error) {
		b, err := pk.packLayer(l, r)
		if err != nil {
			return "", err
		}
		if _, dup := layers[b.Digest]; !dup {
			layers[b.Digest] = b
		}
		return string(b.Digest), nil
	}}
	var done, total int64
	if opt.Progress != nil {
		if len(opt.Engine) == 0 {
			for _, in := range opt.Inputs {
				total += imagesrc.InputSize(in)
			}
		}
		iopt.Progress = func(n int64) {
			done += n
			opt.Progress(done, total)
		}
	}

	var found []imagesrc.Image
	for _, in := range opt.Inputs {
		imgs, err := imagesrc.Read(ctx, in, iopt)
		if err != nil {
			return nil, err
		}
		found = append(found, imgs...)
	}
	if len(opt.Engine) > 0 {
		imgs, err := readEngine(ctx, opt.Engine, iopt)
		if err != nil {
			return nil, err
		}
		found = append(found, imgs...)
	}
	merged, err := imagesrc.Merge(found)
	if err != nil {
		return nil, err
	}

	out := &Packed{}
	have := map[Digest]bool{}
	for _, img := range merged {
		cfg := Digest(img.Config)
		if !have[cfg] {
			refs, n, err := pk.store(bytes.NewReader(img.ConfigJSON))
			if err != nil {
				return nil, fmt.Errorf("store config %s of %s: %w", cfg, img.Input, err)
			}
			out.Blobs = append(out.Blobs, Blob{Digest: cfg, Kind: KindConfig, Size: n, Chunks: refs})
			have[cfg] = true
		}
		im := Image{Tags: img.Tags, Config: cfg, Layers: []Digest{}}
		if im.Tags == nil {
			im.Tags = []string{}
		}
		for _, l := range img.Layers {
			d := Digest(l)
			if !have[d] {
				b, ok := layers[d]
				if !ok {
					return nil, fmt.Errorf("pack images: layer %s of %s was not stored", d, img.Input) // imagesrc resolved it, so it passed through the LayerFunc
				}
				out.Blobs = append(out.Blobs, b)
				have[d] = true
			}
			im.Layers = append(im.Layers, d)
		}
		out.Images = append(out.Images, im)
	}

	// Keep only the added chunks that a kept blob uses; layers no image
	// uses (a stream cannot know in advance) leave nothing behind. Only
	// the chunks of such layers are looked up: a map of every chunk of the
	// release was the largest thing packing held at its end.
	unused := map[chunkstore.ID]bool{}
	for d, b := range layers {
		if !have[d] {
			b.eachChunk(func(c ChunkRef) { unused[c.ID] = true })
		}
	}
	if len(unused) > 0 {
		for i := range out.Blobs {
			out.Blobs[i].eachChunk(func(c ChunkRef) { delete(unused, c.ID) })
		}
	}
	// Two streams packed at once (a layer's contents and its metadata) may
	// both add a chunk they share.
	slices.SortFunc(pk.added, func(a, b chunkstore.ID) int { return bytes.Compare(a[:], b[:]) })
	out.Added = slices.DeleteFunc(slices.Compact(pk.added), func(id chunkstore.ID) bool {
		if unused[id] {
			drop = append(drop, id)
			return true
		}
		return false
	})
	if opt.Progress != nil && total > 0 {
		opt.Progress(total, total)
	}
	ok = true
	return out, nil
}

// readEngine reads images from the local Docker Engine through one
// `docker save`, streamed from its standard output.
func readEngine(ctx context.Context, refs []string, opt imagesrc.Options) ([]imagesrc.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	name := "docker save " + strings.Join(refs, " ")
	cmd := exec.CommandContext(ctx, "docker", append([]string{"save"}, refs...)...)
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w (is Docker installed?)", name, err)
	}
	imgs, readErr := imagesrc.ReadStream(ctx, name, stdout, opt)
	if readErr != nil {
		stdout.Close() // docker save stops at its next write
	}
	waitErr := cmd.Wait()
	msg := firstLine(strings.TrimSpace(stderr.String()))
	switch {
	case waitErr != nil && msg != "" && !strings.Contains(msg, "broken pipe") && ctx.Err() == nil:
		// docker's own reason (no such image, no daemon) says more than
		// what its empty or cut output looked like.
		return nil, fmt.Errorf("%s failed: %s", name, msg)
	case readErr != nil:
		return nil, readErr
	case waitErr != nil:
		return nil, fmt.Errorf("%s failed: %w", name, waitErr)
	}
	return imgs, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
