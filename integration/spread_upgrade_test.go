package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/site"
	"github.com/ferry-mesh/ferry/node"
)

// TestSpreadSiteUpgradesByPolicy: a site daemon with --upgrade-policy now
// and an empty compose folder, on a mesh with a hub. The hub holds 3.1.0:
// the site fetches it, installs it on the real Docker Engine and gossips
// that it runs it. The publisher then adds 3.2.0 to the hub's store: the
// site learns of it from the hub's gossip, fetches it, upgrades, and keeps
// both releases. The nodes run on loopback (the health gate probes the
// gateway's published port on this host).
func TestSpreadSiteUpgradesByPolicy(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	if err := site.EnsureMariaDB(ctx, logf); err != nil {
		t.Fatal(err)
	}
	const dist = "openmrs-fixture"
	id := uniqueName()
	tags := map[string]string{"3.1.0": "3.1.0-" + id, "3.2.0": "3.2.0-" + id}
	for v, tag := range tags {
		if err := site.EnsureApp(ctx, tag, site.AppOptions{Version: v}, logf); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, tag := range tags {
			exec.Command("docker", append([]string{"rmi"}, site.AppImages(tag)...)...).Run()
		}
	})

	bin := buildFerry(t)
	dir := t.TempDir()
	hubData, siteData := t.TempDir(), t.TempDir()
	hubCLI, siteCLI := cli{t: t, bin: bin, data: hubData}, cli{t: t, bin: bin, data: siteData}
	pub := strings.TrimSpace(hubCLI.ok("key", "generate", "--out", filepath.Join(dir, "publisher.key"), "--unencrypted"))
	siteCLI.ok("trust", "add", pub)
	composeFile := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(composeFile, site.ComposeFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	create := func(v string) {
		env := filepath.Join(dir, "release-"+v+".env")
		if err := os.WriteFile(env, site.ReleaseEnv(tags[v]), 0o644); err != nil {
			t.Fatal(err)
		}
		hubCLI.ok("release", "create", "--key", filepath.Join(dir, "publisher.key"), "--name", dist, "--version", v,
			"--compose", composeFile, "--env", env)
	}
	create("3.1.0")

	// The site's compose folder holds only its own settings (the upgrade
	// tests' empty site; this test runs no ferry command through it).
	s := (&upLab{}).newUpSite(t)

	key := meshKeyFile(t)
	hubPort, sitePort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	hub := startFerry(t, bin, nil, hubData, "serve", "--role", "hub", "--site", "district", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0",
		"--mesh-key", key, "--mesh-interfaces", "lo", "--mesh-port", hubPort)
	nodeStatus(t, nil, bin, hubData, 30*time.Second)
	startFerry(t, bin, nil, siteData, "serve", "--want", dist, "--site", "clinic", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0",
		"--mesh-key", key, "--mesh-interfaces", "lo", "--mesh-port", sitePort, "--join", "127.0.0.1:"+hubPort,
		"--compose-dir", s.dir, "--project", s.project, "--upgrade-policy", "now", "--health-timeout", "90s")

	runs := func(version string, within time.Duration) {
		t.Helper()
		start := time.Now()
		waitUntil(t, within, "the site runs "+version, func() bool {
			st, err := queryStatus(nil, bin, siteData)
			return err == nil && st.Upgrade != nil && st.Upgrade.Version == version && st.Upgrade.Running == nil
		})
		t.Logf("the site runs %s %v later", version, time.Since(start).Round(100*time.Millisecond))
		waitUntil(t, 30*time.Second, "the hub hears that the site runs "+version, func() bool {
			ps, err := node.QueryPeers(context.Background(), hubData)
			if err != nil || len(ps.Peers) != 1 {
				return false
			}
			d := ps.Peers[0].Deployed
			return len(d) == 1 && d[0].Distribution == dist && d[0].Version == version
		})
		if got := s.sql(t, "SELECT version FROM schema_version"); !strings.Contains(got, version) {
			t.Errorf("the database is at %q after %s was applied", got, version)
		}
	}
	runs("3.1.0", 5*time.Minute)

	create("3.2.0")
	runs("3.2.0", 5*time.Minute)
	st := nodeStatus(t, nil, bin, siteData, 10*time.Second)
	if len(st.Releases) != 2 {
		t.Errorf("the site holds %d releases; it keeps the two newest", len(st.Releases))
	}
	if st.Upgrade.Policy != "now" || st.Upgrade.Last == nil {
		t.Errorf("upgrade status: %+v", st.Upgrade)
	}
	if !strings.Contains(hub.logs(), "mesh: peer joined") {
		t.Errorf("hub log lacks the site's join:\n%s", hub.logs())
	}
}
