package imagesrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// dirSource is a directory laid out as an OCI image layout or an extracted
// docker save archive. Entries are read when the resolver asks for them, so
// blobs no image uses (other platforms' layers, say) are never read. All
// access goes through an os.Root: links cannot lead outside the directory.
type dirSource struct {
	ctx    context.Context
	name   string
	root   *os.Root
	opt    Options
	layers map[string]string // path → diffID, of layers already read
	budget *budget           // for all files of the directory
}

func readDir(ctx context.Context, dir string, opt Options) ([]Image, error) {
	if opt.Layer == nil {
		return nil, fmt.Errorf("read images from %s: no layer function", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}
	defer root.Close()
	src := &dirSource{ctx: ctx, name: dir, root: root, opt: opt, layers: map[string]string{}, budget: &budget{ctx: ctx}}
	imgs, err := resolve(dir, src)
	if !errors.Is(err, errNoIndex) {
		return imgs, err
	}
	// An extracted bundle: images/*.tar, each a docker save archive,
	// opened through the root like everything else here, so that a link
	// cannot lead outside the directory.
	ents, _ := fs.ReadDir(root.FS(), "images")
	var all []Image
	for _, e := range ents {
		if !isArchiveName(e.Name()) {
			continue
		}
		name := filepath.Join(dir, "images", e.Name())
		f, err := safefile.OpenIn(root, "images/"+e.Name())
		if errors.Is(err, safefile.ErrNotRegular) {
			return nil, malformed("%s is not a regular file", name)
		}
		if err != nil {
			return nil, fmt.Errorf("read images: %w", err)
		}
		imgs, err := ReadStream(ctx, name, f, opt)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, imgs...)
	}
	if len(all) == 0 {
		return nil, malformed("%s is not an OCI image layout, an extracted docker save archive or an images bundle: it has no index.json, no manifest.json and no images/*.tar", dir)
	}
	return Merge(all)
}

func (d *dirSource) has(p string) bool {
	fi, err := d.root.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// open opens a regular file of the directory for reading, with progress. A
// FIFO, a device or a socket is never opened (errNotRegular).
func (d *dirSource) open(p string) (io.ReadCloser, int64, error) {
	f, err := safefile.OpenIn(d.root, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, errMissing
	}
	if errors.Is(err, safefile.ErrNotRegular) {
		return nil, 0, errNotRegular
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read images from %s: %w", d.name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("read images from %s: %w", d.name, err)
	}
	in := &inputReader{ctx: d.ctx, r: f, progress: d.opt.Progress, budget: d.budget}
	return &dirFile{inputReader: in, f: f}, fi.Size(), nil
}

// dirFile reports the progress not yet reported when it is closed.
type dirFile struct {
	*inputReader
	f *os.File
}

func (f *dirFile) Close() error {
	f.flush()
	return f.f.Close()
}

func (d *dirSource) jsonBlob(p string) ([]byte, error) {
	f, size, err := d.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > MaxJSONSize {
		return nil, errNotJSON
	}
	res, err := readBlob(d.name, p, f, size, func(Layer, io.Reader) (string, error) { return "", errNotJSON }, d.budget)
	if err != nil {
		return nil, err
	}
	if res.json == nil {
		return nil, errNotJSON
	}
	return res.json, nil
}

func (d *dirSource) layer(p string) (string, error) {
	if diffID, ok := d.layers[p]; ok {
		return diffID, nil
	}
	f, size, err := d.open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	res, err := readBlob(d.name, p, f, size, d.opt.Layer, d.budget)
	if err != nil {
		return "", err
	}
	if res.diffID == "" {
		return "", errNotLayer
	}
	d.layers[p] = res.diffID
	return res.diffID, nil
}
