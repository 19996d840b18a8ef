package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
	"github.com/ferry-mesh/ferry/release/releasetest"
)

// hostile measures the peak RSS of release create, import, verify and
// images on crafted inputs of a few kilobytes that describe hundreds of
// megabytes of names (issue 14): goal <= 150 MB each, whether the command
// refuses the input (as it should) or not. The baseline is the same command
// on an honest release of 1 MiB.
//
//   - links.tar.zst: 900 link entries with names and targets of 1 MiB
//     (116 KB; 2.1 GB in create when names were kept);
//   - longnames.tar.zst and .tar.gz: one layer of 300 empty files with
//     names of 0.9 MiB (20 KB and 300 KB; 360 MB in create);
//   - a release such a layer makes when packed without limits, signed by a
//     trusted key: with 150 names it passes the manifest's limit on layer
//     metadata (verify and images refuse it on the way out); with 300 it
//     does not (import refuses its manifest);
//   - a stick whose unsigned manifest names a chunk by a string of braces
//     (16 MB, and 60 MB: 2.8 GB when the chunk list was sized by its
//     braces).
func (b *bench) hostile(ctx context.Context) error {
	dir := filepath.Join(b.cache, "hostile-v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	inputs := []struct {
		name, image string // the image its compose file names
		write       func(io.Writer) error
	}{
		{"links.tar.zst", "ferry-test/links:1", func(w io.Writer) error { return imagetest.WriteLinkArchive(w, 900, 1<<20-1024, "zstd") }},
		{"longnames.tar.zst", "ferry-test/longnames:1", func(w io.Writer) error { return imagetest.WriteLongNameImage(w, 300, 900<<10, "zstd") }},
		{"longnames.tar.gz", "ferry-test/longnames:1", func(w io.Writer) error { return imagetest.WriteLongNameImage(w, 300, 900<<10, "gzip") }},
	}
	for _, in := range inputs {
		if err := writeOnce(filepath.Join(dir, in.name), in.write); err != nil {
			return err
		}
	}
	composeFor := func(image string) (string, error) {
		p := filepath.Join(dir, strings.NewReplacer("/", "-", ":", "-").Replace(image)+".yml")
		return p, os.WriteFile(p, []byte("services:\n  app:\n    image: "+image+"\n"), 0o644)
	}
	compose, err := composeFor("ferry-test/honest:1")
	if err != nil {
		return err
	}
	honest := filepath.Join(dir, "honest.tar")
	if err := writeOnce(honest, func(w io.Writer) error {
		img := imagetest.NewImage("honest", []string{"ferry-test/honest:1"}, imagetest.Layer(imagetest.File{Name: "data", Body: imagetest.Noise(9, 1<<20)}))
		_, err := w.Write(imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{}))
		return err
	}); err != nil {
		return err
	}

	// Baselines: the honest release, created, exported, imported, verified
	// and written out.
	store := filepath.Join(b.work, "hostile-honest")
	base := map[string]int64{}
	steps := []struct {
		what string
		data string
		args []string
	}{
		{"create", store, []string{"release", "create", "--key", b.key, "--name", "honest", "--version", "1", "--compose", compose, "--images", honest}},
		{"export", store, []string{"release", "export", "honest:1", "--to", filepath.Join(b.work, "hostile-honest-stick")}},
		{"import", filepath.Join(b.work, "hostile-honest-site"), []string{"release", "import", filepath.Join(b.work, "hostile-honest-stick")}},
		{"verify", store, []string{"release", "verify", "honest:1"}},
		{"images", store, []string{"release", "images", "honest:1"}},
	}
	for _, s := range steps {
		if s.what == "import" {
			if err := copyTrust(store, s.data); err != nil {
				return err
			}
		}
		r, err := ferry{bin: b.bin, data: s.data}.exec(ctx, true, s.args...)
		if err != nil {
			return fmt.Errorf("hostile baseline: %w", err)
		}
		base[s.what] = r.maxRSS
	}

	measure := func(what, input string, data string, args ...string) {
		r, err := ferry{bin: b.bin, data: data}.exec(ctx, true, args...)
		outcome := "accepted"
		if err != nil {
			outcome = "refused"
		}
		if r == nil || r.maxRSS == 0 {
			logf("%s %s: %v", what, input, err)
			b.add(row{part: "hostile", figure: fmt.Sprintf("release %s, %s", what, input), value: "not measured", goal: "<= 150 MB", met: "NO"})
			return
		}
		logf("release %s %s: %s in %s, peak RSS %s (%v)", what, input, outcome, r.wall.Round(time.Millisecond), mb(r.maxRSS), err)
		b.add(row{part: "hostile", figure: fmt.Sprintf("release %s, %s: %s", what, input, outcome),
			value: mb(r.maxRSS) + " peak RSS", baseline: mb(base[what]) + " honest", ratio: fmt.Sprintf("%.2f", float64(r.maxRSS)/float64(base[what])),
			goal: "<= 150 MB", met: verdict(r.maxRSS <= 150e6)})
	}
	for _, in := range inputs {
		p := filepath.Join(dir, in.name)
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		data := filepath.Join(b.work, "hostile-"+in.name)
		compose, err := composeFor(in.image)
		if err != nil {
			return err
		}
		measure("create", fmt.Sprintf("%s (%s)", in.name, mb(fi.Size())), data,
			"release", "create", "--key", b.key, "--name", "crafted", "--version", "1", "--compose", compose, "--images", p)
		// What the old code accepted can be verified and written out.
		if _, err := (ferry{bin: b.bin, data: data}).exec(ctx, true, "release", "show", "crafted:1"); err == nil {
			measure("verify", in.name, data, "release", "verify", "crafted:1")
			measure("images", in.name, data, "release", "images", "crafted:1")
		}
	}

	// Releases packed without limits and signed by a trusted key.
	for _, n := range []int{150, 300} {
		what := fmt.Sprintf("crafted release of %d names of 0.9 MiB", n)
		data := filepath.Join(b.work, fmt.Sprintf("hostile-release-%d", n))
		stick := data + "-stick"
		if err := craftRelease(ctx, data, stick, n); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		site := data + "-site"
		if err := copyTrust(data, site); err != nil {
			return err
		}
		ids, err := filepath.Glob(filepath.Join(stick, "releases", "*"))
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("%s: the stick holds %d releases", what, len(ids))
		}
		id := filepath.Base(ids[0])[:12] // by ID: a store does not resolve a name it cannot read
		measure("import", what, site, "release", "import", stick)
		measure("verify", what, data, "release", "verify", id)
		measure("images", what, data, "release", "images", id)
	}

	// Sticks whose manifest is a crafted string, unsigned.
	for _, size := range []int{16e6, 60e6} {
		what := fmt.Sprintf("stick with a manifest of %s of braces", mb(int64(size)))
		stick := filepath.Join(b.work, fmt.Sprintf("hostile-manifest-%d", size))
		raw := []byte(`{"schema":1,"name":"x","version":"1","compose":[{"name":"docker-compose.yml","content":""}],"blobs":[{"digest":"sha256:` +
			strings.Repeat("1", 64) + `","kind":"layer","size":1,"chunks":[{"id":"` + strings.Repeat("{", size) + `"}]}]}`)
		sum := sha256.Sum256(raw)
		rdir := filepath.Join(stick, "releases", hex.EncodeToString(sum[:]))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rdir, "manifest.json"), raw, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rdir, "signatures.json"), []byte("[]"), 0o644); err != nil {
			return err
		}
		measure("import", what, filepath.Join(b.work, fmt.Sprintf("hostile-manifest-site-%d", size)), "release", "import", stick)
	}
	return nil
}

// craftRelease stores a release of one layer of n names of 0.9 MiB in the
// store data, signed by a key it trusts, and exports it to stick.
func craftRelease(ctx context.Context, data, stick string, n int) error {
	st, err := release.OpenStore(data)
	if err != nil {
		return err
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(nil)
	tl, err := st.Trusted()
	if err != nil {
		return err
	}
	var k release.PublicKey
	copy(k[:], pub)
	if err := tl.Add(k, "hostile publisher (bench)"); err != nil {
		return err
	}
	start := time.Now()
	sr, err := releasetest.LongNameRelease(ctx, st, priv, "crafted", "1", n, 900<<10)
	if err != nil {
		return err
	}
	if _, err := release.Export(ctx, st, sr, stick, nil); err != nil {
		return err
	}
	logf("crafted %s with %d names of 0.9 MiB in %s", sr, n, time.Since(start).Round(time.Second))
	return nil
}

// copyTrust makes the store dst trust what src trusts.
func copyTrust(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(src, "trusted_keys"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "trusted_keys"), b, 0o644)
}

// writeOnce writes path with write unless it exists; the file appears only
// when complete.
func writeOnce(path string, write func(io.Writer) error) error {
	if fileExists(path) {
		return nil
	}
	start := time.Now()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	logf("generated %s in %s", path, time.Since(start).Round(time.Second))
	return os.Rename(tmp, path)
}
