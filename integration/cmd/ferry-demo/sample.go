package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-mesh/ferry/integration/fixture"
)

// sampleRelease is a distribution on disk, ready for ferry release create.
type sampleRelease struct {
	compose, env, images string // docker-compose.yml, .env, docker save tar
}

// sample is the demo's two releases: a base and an update of it.
type sample struct {
	base, update *sampleRelease
	changed      int64 // bytes of file content the update changed
}

// makeSample generates an OpenMRS-shaped distribution (gateway, frontend,
// backend, db) of the demo's size and its update in which the backend was
// rebuilt, each as a compose file, a .env and a docker save tar.
func (d *demo) makeSample(ctx context.Context) (*sample, error) {
	step("Making a sample OpenMRS distribution: 4 images (gateway, frontend, backend, database), %s.", human(d.opt.size))
	t0 := time.Now()
	base := fixture.New(fixture.Options{Size: d.opt.size, Tag: "3.0.0"})
	update, change, err := base.Variant(fixture.VariantRebuild, "3.0.1")
	if err != nil {
		return nil, err
	}
	s := &sample{changed: change.Bytes}
	for _, r := range []struct {
		dist *fixture.Distribution
		dst  **sampleRelease
	}{{base, &s.base}, {update, &s.update}} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := filepath.Join(d.lab.Dir(), "sample-"+r.dist.Options.Tag)
		if *r.dst, err = writeSample(r.dist, dir); err != nil {
			return nil, err
		}
	}
	fmt.Printf("   written as docker save archives in %.1f s\n", time.Since(t0).Seconds())
	return s, nil
}

func writeSample(d *fixture.Distribution, dir string) (*sampleRelease, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d.Prepare()
	images, err := d.Write(dir, fixture.LegacyTar)
	if err != nil {
		return nil, fmt.Errorf("write the sample images into %s: %w", dir, err)
	}
	compose, env, err := d.WriteCompose(dir)
	if err != nil {
		return nil, fmt.Errorf("write the sample compose file into %s: %w", dir, err)
	}
	return &sampleRelease{compose: compose, env: env, images: images}, nil
}
