package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-mesh/ferry/integration/fixture"
)

// TestReleaseRoundTrip packs the same distribution from every input format
// and from the Docker Engine, removes the images from the engine, and loads
// them back with `ferry release images | docker load`: the image IDs and
// tags must be the ones packed.
func TestReleaseRoundTrip(t *testing.T) {
	w := newWorld(t)
	if out, err := docker(t, "load", "-i", w.inputs[fixture.LegacyTar]); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	checkEngineHas(t, w.dist)

	sources := []struct{ name, input string }{{"engine", ""}}
	for _, f := range fixture.Formats {
		sources = append(sources, struct{ name, input string }{f.String(), w.inputs[f]})
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			c := w.store(t)
			w.create(c, w.dist, "3.0.0", s.input)
			c.ok("release", "verify", "openmrs:3.0.0")
			removeImages(t, w.dist)
			c.pipeToDockerLoad("openmrs:3.0.0")
			checkEngineHas(t, w.dist)
		})
	}
}

// TestReleaseExportImport carries a release on a "USB stick" to a second
// store, and then an update with --since, which must hold exactly the chunks
// release diff says the update adds.
func TestReleaseExportImport(t *testing.T) {
	w := newWorld(t)
	pub := w.store(t)
	w.create(pub, w.dist, "3.0.0", w.inputs[fixture.LegacyTar])
	update, change, err := w.dist.Variant(fixture.VariantConfig, "3.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cleanupImages(t, update)
	updDir := t.TempDir()
	updInput, err := update.Write(updDir, fixture.LegacyTar)
	if err != nil {
		t.Fatal(err)
	}
	w.create(pub, update, "3.0.1", updInput)

	usb := t.TempDir()
	pub.ok("release", "export", "openmrs:3.0.0", "--to", usb)
	site := w.store(t)
	site.ok("trust", "add", w.pubkey)
	site.ok("release", "import", usb)
	site.ok("release", "verify", "openmrs:3.0.0")
	removeImages(t, w.dist)
	site.pipeToDockerLoad("openmrs:3.0.0")
	checkEngineHas(t, w.dist)

	var diff struct {
		Chunks      int   `json:"chunks"`
		StoredBytes int64 `json:"stored_bytes"`
		TotalChunks int   `json:"total_chunks"`
	}
	pub.json(&diff, "release", "diff", "openmrs:3.0.0", "openmrs:3.0.1")
	if diff.Chunks == 0 || diff.Chunks >= diff.TotalChunks {
		t.Errorf("release diff: the update adds %d of its %d chunks; %d bytes of CSV changed", diff.Chunks, diff.TotalChunks, change.Bytes)
	}
	usb2 := t.TempDir()
	pub.ok("release", "export", "openmrs:3.0.1", "--to", usb2, "--since", "openmrs:3.0.0")
	if n := countFiles(t, filepath.Join(usb2, "chunks")); n != diff.Chunks {
		t.Errorf("export --since wrote %d chunks, release diff says the update adds %d", n, diff.Chunks)
	}
	site.ok("release", "import", usb2)
	site.ok("release", "verify", "openmrs:3.0.1")
	removeImages(t, update)
	site.pipeToDockerLoad("openmrs:3.0.1")
	checkEngineHas(t, update)
}

// TestReleaseBadInput gives the CLI broken input. Each time it must exit 1
// with one sentence naming the file, and leave the store as it was.
func TestReleaseBadInput(t *testing.T) {
	w := newWorld(t)
	c := w.store(t)
	w.create(c, w.dist, "3.0.0", w.inputs[fixture.LegacyTar])
	before := listing(t, c.data)
	create := func(version, compose, input string) []string {
		return []string{"release", "create", "--key", w.key, "--name", "openmrs", "--version", version,
			"--compose", compose, "--env", w.env, "--images", input}
	}

	t.Run("truncated archive", func(t *testing.T) {
		c := w.cli(t, c.data)
		before := listing(t, c.data)
		p := filepath.Join(t.TempDir(), "truncated.tar")
		src, err := os.ReadFile(w.inputs[fixture.LegacyTar])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, src[:len(src)*2/3], 0o644); err != nil {
			t.Fatal(err)
		}
		c.fails([]string{"truncated.tar"}, create("3.0.9", w.compose, p)...)
		sameListing(t, "a create from a truncated archive", c.data, before)
	})

	// A path that leaves its container: inside a layer (the engine would
	// write it outside the image), or in the archive's manifest.
	for _, esc := range []struct{ name, entry, layerPath string }{
		{"layer entry outside the layer", "../escaped", "layer/layer.tar"},
		{"archive entry outside the archive", "etc/motd", "../layer.tar"},
	} {
		t.Run(esc.name, func(t *testing.T) {
			c := w.cli(t, c.data)
			before := listing(t, c.data)
			archive, compose := writeEscapingImage(t, t.TempDir(), w.dist.Options.Namespace+"/escape:1", esc.entry, esc.layerPath)
			c.fails([]string{"escape.tar"}, "release", "create", "--key", w.key, "--name", "escape", "--version", "1",
				"--compose", compose, "--images", archive)
			sameListing(t, "a create from "+esc.name, c.data, before)
		})
	}

	t.Run("unreadable compose file", func(t *testing.T) {
		c := w.cli(t, c.data)
		before := listing(t, c.data)
		missing := filepath.Join(t.TempDir(), "missing-compose.yml")
		c.fails([]string{"missing-compose.yml"}, create("3.0.9", missing, w.inputs[fixture.LegacyTar])...)
		dirAsFile := filepath.Join(t.TempDir(), "compose-is-a-dir.yml")
		if err := os.Mkdir(dirAsFile, 0o755); err != nil {
			t.Fatal(err)
		}
		c.fails([]string{"compose-is-a-dir.yml"}, create("3.0.9", dirAsFile, w.inputs[fixture.LegacyTar])...)
		sameListing(t, "a create with an unreadable compose file", c.data, before)
	})

	t.Run("tampered export", func(t *testing.T) {
		usb := t.TempDir()
		c.ok("release", "export", "openmrs:3.0.0", "--to", usb)
		manifests, err := filepath.Glob(filepath.Join(usb, "releases", "*", "manifest.json"))
		if err != nil || len(manifests) != 1 {
			t.Fatalf("export holds manifests %v (%v)", manifests, err)
		}
		b, err := os.ReadFile(manifests[0])
		if err != nil {
			t.Fatal(err)
		}
		tampered := strings.Replace(string(b), `"version":"3.0.0"`, `"version":"3.0.7"`, 1)
		if tampered == string(b) {
			t.Fatalf("manifest has no version 3.0.0: %.200s", b)
		}
		if err := os.WriteFile(manifests[0], []byte(tampered), 0o644); err != nil {
			t.Fatal(err)
		}
		site := w.store(t)
		site.ok("trust", "add", w.pubkey)
		siteBefore := listing(t, site.data)
		site.fails([]string{"manifest.json"}, "release", "import", usb)
		sameListing(t, "importing a tampered export", site.data, siteBefore)
	})

	t.Run("untrusted key", func(t *testing.T) {
		usb := t.TempDir()
		c.ok("release", "export", "openmrs:3.0.0", "--to", usb)
		site := w.store(t)
		site.ok("trust", "list") // makes the (empty) store
		siteBefore := listing(t, site.data)
		site.fails([]string{usb}, "release", "import", usb)
		sameListing(t, "importing an export signed by an untrusted key", site.data, siteBefore)
	})

	t.Run("full disk", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("mounting a tmpfs needs root")
		}
		mnt := t.TempDir()
		if out, err := runCmd(t, "mount", "-t", "tmpfs", "-o", "size=20m", "ferry-it", mnt); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { runCmd(t, "umount", mnt) })
		small := w.cli(t, filepath.Join(mnt, "data"))
		w.create(small, w.dist, "3.0.0", w.inputs[fixture.LegacyTar])
		// Fill the disk to within 512 KiB, then pack a distribution with
		// other content: the store must end as it began.
		filler := filepath.Join(mnt, "filler")
		fill(t, filler, 512<<10)
		other := fixture.New(fixture.Options{Size: 4 << 20, Seed: 2, Namespace: w.dist.Options.Namespace + "-other"})
		otherDir := t.TempDir()
		otherInput, err := other.Write(otherDir, fixture.LegacyTar)
		if err != nil {
			t.Fatal(err)
		}
		otherCompose, _, err := other.WriteCompose(otherDir)
		if err != nil {
			t.Fatal(err)
		}
		smallBefore := listing(t, small.data)
		small.fails([]string{small.data}, create("4.0.0", otherCompose, otherInput)...)
		sameListing(t, "a create that filled the disk", small.data, smallBefore)
		// Once there is room again, the same command works.
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		small.ok(create("4.0.0", otherCompose, otherInput)...)
		small.ok("release", "verify", "openmrs:4.0.0")
		small.ok("release", "verify", "openmrs:3.0.0")
	})

	sameListing(t, "the bad-input tests", c.data, before)
	c.ok("release", "verify", "openmrs:3.0.0")
}

// writeEscapingImage writes dir/escape.tar, a docker-archive of one image
// (tagged ref) whose only layer, stored at layerPath in the archive, holds
// an entry named name; and a compose file that uses it. The archive is
// otherwise valid: the diff_ids match.
func writeEscapingImage(t *testing.T, dir, ref, name, layerPath string) (archive, compose string) {
	t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	body := "ferry must not accept this\n"
	for _, n := range []string{"etc/hostname", name} {
		if err := lw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(lw, body)
	}
	lw.Close()
	diffID := sha256.Sum256(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
		"history": []map[string]string{{"created_by": "COPY . /"}},
	})
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{ref}, "Layers": []string{layerPath}}})
	archive = filepath.Join(dir, "escape.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		body []byte
	}{{configName, config}, {layerPath, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	compose = filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(compose, []byte("services:\n  app:\n    image: "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return archive, compose
}

// fill writes a file that leaves about free bytes on its filesystem.
func fill(t *testing.T, path string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	if avail <= free {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for left := avail - free; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
		left -= n
	}
}
