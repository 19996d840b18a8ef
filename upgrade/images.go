package upgrade

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
)

// missingImages returns the release's images the engine lacks (by ID).
func missingImages(ctx context.Context, m *release.Manifest) []release.Image {
	var missing []release.Image
	for _, img := range m.Images {
		if imageID(ctx, string(img.Config)) != string(img.Config) {
			missing = append(missing, img)
		}
	}
	return missing
}

// archiveSize estimates the docker-archive bytes of images.
func archiveSize(m *release.Manifest, images []release.Image) int64 {
	size := map[release.Digest]int64{}
	for _, b := range m.Blobs {
		size[b.Digest] = b.Size
	}
	seen := map[release.Digest]bool{}
	var n int64
	for _, img := range images {
		for _, d := range append([]release.Digest{img.Config}, img.Layers...) {
			if !seen[d] {
				seen[d] = true
				n += size[d]
			}
		}
	}
	return n
}

// loadImages streams the images of m the engine lacks into docker load and
// checks that the engine has each one. docker load also moves the tags the
// archive names; they are put back at once (and by a recovery), so that
// the site's programs change only at the switch: j.Tags records them before
// the load starts.
func (u *Upgrader) loadImages(ctx context.Context, j *journal, m *release.Manifest) error {
	missing := missingImages(ctx, m)
	if len(missing) == 0 {
		u.emit(j.Op, StepLoad, i18n.M("load.have_all", "version", m.Version))
		return nil
	}
	j.Tags = map[string]string{}
	for _, img := range missing {
		for _, tag := range img.Tags {
			j.Tags[tag] = imageID(ctx, tag)
		}
	}
	if err := u.st.writeJournal(j); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	// A shared store lock keeps garbage collection from removing chunks
	// while they stream.
	unlock, err := u.cfg.Store.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	total := archiveSize(m, missing)
	u.emitProgress(j.Op, StepLoad, 0, total, i18n.M("load.start", "n", len(missing), "version", m.Version, "size", total))
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw}
	werr := make(chan error, 1)
	go func() {
		err := u.images.WriteArchive(ctx, cw, m, missing)
		pw.CloseWithError(err)
		werr <- err
	}()
	lerrc := make(chan error, 1)
	go func() {
		_, err := runCmd(execCommand(ctx, "docker", "load", "-q"), "docker load", pr)
		pr.CloseWithError(io.ErrClosedPipe)
		lerrc <- err
	}()
	// Progress is reported from this goroutine, as OnEvent promises.
	tick := time.NewTicker(2 * time.Second)
	var lerr error
wait:
	for {
		select {
		case lerr = <-lerrc:
			break wait
		case <-tick.C:
			n := cw.n.Load()
			u.emitProgress(j.Op, StepLoad, n, total, i18n.M("load.progress", "done", n, "total", total))
		}
	}
	tick.Stop()
	if err := <-werr; err != nil {
		return fmt.Errorf("load images of %s: %w", m.Version, err)
	}
	if lerr != nil {
		return fmt.Errorf("load images of %s: %w", m.Version, lerr)
	}
	for _, img := range missing {
		if id := imageID(ctx, string(img.Config)); id != string(img.Config) {
			return fmt.Errorf("load images of %s: after docker load the engine lacks image %s", m.Version, img.Config)
		}
	}
	if err := putBackTags(ctx, j.Tags); err != nil {
		return err
	}
	u.emit(j.Op, StepLoad, i18n.M("load.done", "n", len(missing)))
	return nil
}

// putBackTags makes each tag name the image it named before (tags that
// named none, or an image Docker no longer has, are left as they are).
// Idempotent.
func putBackTags(ctx context.Context, tags map[string]string) error {
	for _, tag := range sortedKeys(tags) {
		id := tags[tag]
		if id == "" || imageID(ctx, tag) == id || imageID(ctx, id) == "" {
			continue
		}
		if _, err := dockerCmd(ctx, "tag", id, tag); err != nil {
			return fmt.Errorf("put back tag %s: %w", tag, err)
		}
	}
	return nil
}

// tagImages makes every tag of the release's images name its image: the
// switch's part in Docker. Idempotent.
func tagImages(ctx context.Context, images []release.Image) error {
	for _, img := range images {
		for _, tag := range img.Tags {
			if imageID(ctx, tag) != string(img.Config) {
				if _, err := dockerCmd(ctx, "tag", string(img.Config), tag); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// retagImages makes each service's image reference name the image the
// service ran when the backup was taken. Idempotent.
func retagImages(ctx context.Context, images map[string]serviceImage) error {
	for _, svc := range sortedKeys(images) {
		im := images[svc]
		if im.Ref == "" || im.ID == "" || strings.HasPrefix(im.Ref, "sha256:") || strings.Contains(im.Ref, "@") {
			continue // not a tag: the container named its image by ID or digest
		}
		if imageID(ctx, im.ID) == "" {
			return fmt.Errorf("the program service %s ran (%s, image %.19s) is no longer in Docker", svc, im.Ref, im.ID)
		}
		if imageID(ctx, im.Ref) == im.ID {
			continue
		}
		if _, err := dockerCmd(ctx, "tag", im.ID, im.Ref); err != nil {
			return fmt.Errorf("name the program of service %s %s again: %w", svc, im.Ref, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// countingWriter counts the bytes written through it; n may be read from
// another goroutine.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
