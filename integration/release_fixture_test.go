package integration

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ferry-mesh/ferry/integration/fixture"
)

// TestFixtureDockerLoad checks that the Docker Engine accepts the fixture's
// archives as they are (legacy, OCI, gzip, and the bundle's load-images.sh)
// and gives the images the IDs and tags the fixture computed: the release
// tests compare ferry's output with these.
func TestFixtureDockerLoad(t *testing.T) {
	requireDocker(t)
	id := uniqueName()
	d := fixture.New(fixture.Options{Size: 2 << 20, Namespace: "ferry-it/" + id, Salt: id})
	cleanupImages(t, d)
	dir := t.TempDir()
	for _, f := range []fixture.Format{fixture.LegacyTar, fixture.OCITar, fixture.LegacyTarGz} {
		t.Run(f.String(), func(t *testing.T) {
			p, err := d.Write(dir, f)
			if err != nil {
				t.Fatal(err)
			}
			removeImages(t, d)
			if out, err := docker(t, "load", "-i", p); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			checkEngineHas(t, d)
		})
	}
	t.Run(fixture.Bundle.String(), func(t *testing.T) {
		p, err := d.Write(dir, fixture.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		x := t.TempDir()
		if out, err := runCmd(t, "tar", "-xzf", p, "-C", x); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		removeImages(t, d)
		if out, err := runCmd(t, "sh", filepath.Join(x, "load-images.sh")); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		checkEngineHas(t, d)
	})
	if _, err := exec.LookPath("docker-compose"); err == nil {
		compose, _, err := d.WriteCompose(dir)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := runCmd(t, "docker-compose", "-f", compose, "--project-directory", dir, "config", "-q"); err != nil {
			t.Errorf("docker-compose rejects the fixture's compose file: %v: %s", err, out)
		}
	}
}
