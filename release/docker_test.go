package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// docker runs the docker CLI with stdin, failing the test on error.
func docker(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		t.Skipf("no Docker Engine: docker info: %v", err)
	}
}

// With the real Docker Engine: an image loaded into it, saved by docker
// save, packed from the file and from the engine, then written back out and
// loaded after removal, keeps its image ID and tags.
func TestPackDockerEngineRoundTrip(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	repo := fmt.Sprintf("ferry-test/pack-%d", os.Getpid())
	tags := []string{repo + ":1.0", repo + ":latest"}
	base := imagetest.Layer(
		imagetest.File{Name: "bin/"},
		imagetest.File{Name: "bin/tool", Body: imagetest.Noise(11, 3<<20), Mode: 0o755},
		imagetest.File{Name: "bin/sh", Type: '2', Linkname: "/bin/tool"},
		imagetest.File{Name: "etc/"},
		imagetest.File{Name: "etc/motd", Body: []byte("ferry\n")},
	)
	app := imagetest.Layer(
		imagetest.File{Name: "app/"},
		imagetest.File{Name: "app/data", Body: imagetest.Noise(12, 1<<20)},
		imagetest.File{Name: "app/hard", Type: '1', Linkname: "app/data"},
		imagetest.File{Name: "etc/.wh.motd"},
	)
	img := imagetest.NewImage(repo, tags, base, app)
	docker(t, ctx, bytes.NewReader(imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{})), "load")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(ctx, "docker", "rmi", "-f", tags[0], tags[1]).Run()
	})
	inspect := func() (string, []string) {
		out := docker(t, ctx, nil, "image", "inspect", "--format", "{{.Id}} {{json .RepoTags}}", tags[0])
		id, ts, _ := strings.Cut(out, " ")
		var tags []string
		if err := json.Unmarshal([]byte(ts), &tags); err != nil {
			t.Fatalf("docker image inspect: %q: %v", out, err)
		}
		return id, tags
	}
	id, loadedTags := inspect()
	if id != img.ID() {
		t.Fatalf("docker loaded image %s, want %s", id, img.ID())
	}

	saved := filepath.Join(t.TempDir(), "saved.tar")
	docker(t, ctx, nil, "save", "-o", saved, tags[0], tags[1])
	fromFile, err := Pack(ctx, openChunks(t), PackOptions{Inputs: []string{saved}})
	if err != nil {
		t.Fatal(err)
	}
	cs := openChunks(t)
	fromEngine, err := Pack(ctx, cs, PackOptions{Engine: tags})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile.Images, fromEngine.Images) || !sameBlobs(fromFile.Blobs, fromEngine.Blobs) {
		t.Fatalf("packed from the file %+v, from the engine %+v", fromFile.Images, fromEngine.Images)
	}
	if len(fromEngine.Images) != 1 || string(fromEngine.Images[0].Config) != img.ID() {
		t.Fatalf("packed %+v, want image %s", fromEngine.Images, img.ID())
	}

	docker(t, ctx, nil, "rmi", tags[0], tags[1])
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", tags[0]).Run(); err == nil {
		t.Fatal("image still present after docker rmi")
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(WriteArchive(ctx, pw, cs, manifestOf(fromEngine), nil))
	}()
	docker(t, ctx, pr, "load")
	gotID, gotTags := inspect()
	if gotID != img.ID() || !sameSet(gotTags, loadedTags) {
		t.Fatalf("after WriteArchive | docker load: image %s tags %v, want %s tags %v", gotID, gotTags, img.ID(), loadedTags)
	}

	// An image the engine lacks is a clear error naming it.
	_, err = Pack(ctx, openChunks(t), PackOptions{Engine: []string{repo + ":absent"}})
	if err == nil || !strings.Contains(err.Error(), repo+":absent") {
		t.Fatalf("packing an absent image: %v", err)
	}
	t.Log(err)
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
