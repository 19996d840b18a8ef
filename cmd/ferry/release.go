package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/upgrade"
)

func init() {
	for _, c := range []*command{
		{name: "release create", usage: "--key FILE [--passphrase-file FILE] --name NAME --version V [--channel C] (--compose FILE... | --dir FOLDER) [--env FILE] [--profile P]... [--manage KEY]... [--default KEY]... [--include PATH]... [--exclude PATH]... [--images PATH]... [--json]",
			summary: "pack a compose project, its files and its images into a signed release", run: runReleaseCreate},
		{name: "release list", usage: "[--json]", summary: "list the releases in the store", run: runReleaseList},
		{name: "release show", usage: "REF [--json]", summary: "show a release's manifest: images, compose files, managed .env keys", run: runReleaseShow},
		{name: "release verify", usage: "REF [--json]", summary: "check a release's signature and rebuild every blob from its chunks", run: runReleaseVerify},
		{name: "release diff", usage: "REF REF [--json]", summary: "what the second release adds over the first: chunks and bytes to move", run: runReleaseDiff},
		{name: "release rm", usage: "REF [--json]", summary: "remove a release and the chunks no other release uses", run: runReleaseRm},
		{name: "release images", usage: "REF", summary: "write the release's images as a docker-archive to stdout (pipe to 'docker load')", run: runReleaseImages},
		{name: "release export", usage: "REF --to DIR [--since REF] [--json]", summary: "copy a release to a folder (a USB stick); --since leaves out what that release has", run: runReleaseExport},
		{name: "release import", usage: "PATH [--json]", summary: "copy the releases in an export folder into the store, verifying everything", run: runReleaseImport},
	} {
		register(c)
	}
}

// openStore opens the store for a command that writes to it (creating it).
func openStore(e *env) (*release.Store, error) { return e.sayLockWaits(release.OpenStore(e.dataDir)) }

// readStore opens the store for a command that only reads: a missing store
// is an error, not an empty one made on the spot.
func readStore(e *env) (*release.Store, error) {
	return e.sayLockWaits(release.OpenExistingStore(e.dataDir))
}

// oneRef parses a command that takes exactly one REF.
func oneRef(args []string, c *command) (string, error) {
	if len(args) != 1 {
		return "", usagef("want one release (an ID prefix or NAME:VERSION)")
	}
	return args[0], nil
}

// openRef parses the flags of a command that reads one release, runs the
// command's own flag checks (usage errors, before anything is opened),
// opens the store for reading and resolves the REF. The caller closes the
// store.
func openRef(e *env, fs *flag.FlagSet, c *command, args []string, checks ...func() error) (*release.Store, *release.Signed, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	ref, err := oneRef(pos, c)
	if err != nil {
		return nil, nil, err
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return nil, nil, err
		}
	}
	st, err := readStore(e)
	if err != nil {
		return nil, nil, err
	}
	sr, err := st.Resolve(ref)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, sr, nil
}

func runReleaseCreate(ctx context.Context, e *env, args []string) error {
	streamingHeap()
	c := commands["release create"]
	fs := newFlags(c)
	var opt release.CreateOptions
	keyFile := fs.String("key", "", "publisher private key (from 'ferry key generate')")
	passFile := passphraseFlag(fs)
	fs.StringVar(&opt.Name, "name", "", "distribution name, e.g. openmrs")
	fs.StringVar(&opt.Version, "version", "", "release version, e.g. 3.2.0")
	fs.StringVar(&opt.Channel, "channel", "stable", "release channel")
	var composeFiles, images, profiles, manage, defaults, include, exclude stringList
	fs.Var(&composeFiles, "compose", "compose file (repeatable, in -f order); without it, --dir's COMPOSE_FILE or default compose file")
	fs.StringVar(&opt.Dir, "dir", "", "the project folder (default: the folder of the first compose file)")
	fs.StringVar(&opt.EnvFile, "env", "", "the release's .env (default: the project folder's .env); its keys travel with the release")
	fs.Var(&profiles, "profile", "compose profile to turn on besides the .env's COMPOSE_PROFILES (repeatable)")
	fs.Var(&manage, "manage", ".env key the release sets at every site on every upgrade (repeatable or comma-separated)")
	fs.Var(&defaults, "default", ".env key the release only proposes, for sites that lack it (repeatable or comma-separated)")
	fs.Var(&include, "include", "file or folder of the project folder to carry besides what compose reads (repeatable)")
	fs.Var(&exclude, "exclude", "file, folder or pattern of the project folder not to carry (repeatable)")
	fs.Var(&images, "images", "image input: docker save tar (.tar/.tar.gz/.tgz), images bundle .tgz, or OCI layout dir (repeatable); without it, images come from the local Docker Engine")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *keyFile == "":
		return usagef("--key FILE is required")
	case opt.Name == "" || opt.Version == "":
		return usagef("--name and --version are required")
	case len(composeFiles) == 0 && opt.Dir == "":
		return usagef("--compose FILE or --dir FOLDER is required")
	}
	opt.ComposeFiles, opt.Images, opt.Profiles = composeFiles, images, profiles
	opt.Manage, opt.Default = splitCommas(manage), splitCommas(defaults)
	opt.Include, opt.Exclude = include, exclude
	var notes []string
	opt.Notes = func(n string) {
		notes = append(notes, n)
		if !*jsonOut {
			fmt.Fprintf(e.stderr, "note: %s\n", sentence(errors.New(n)))
		}
	}
	key, err := loadKey(e, *keyFile, *passFile)
	if err != nil {
		return err
	}
	opt.Key = key
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := newProgress("packing")
	opt.Progress = func(done, total int64) { bar.update(done, total, "") }
	start := time.Now()
	cr, err := release.Create(ctx, st, opt)
	bar.done()
	if err != nil {
		return err
	}
	u := st.DiffReleases(nil, cr.Manifest)
	if *jsonOut {
		return e.printJSON(map[string]any{
			"id": cr.ID.String(), "name": cr.Manifest.Name, "version": cr.Manifest.Version,
			"channel": cr.Manifest.Channel, "images": len(cr.Manifest.Images), "chunks": u.TotalChunks,
			"content_bytes": u.TotalBytes, "stored_bytes": u.StoredBytes, "seconds": time.Since(start).Seconds(),
			"trusted_key_added": cr.TrustedKey, "files": fileCount(cr.Manifest), "notes": notes,
		})
	}
	if cr.TrustedKey {
		fmt.Fprintf(e.stderr, "Trusting your publisher key %s in this store.\n", cr.Signatures[0].Key)
	}
	fmt.Fprintf(e.stderr, "Created %s %s: %d images, %d chunks, %s of content stored in %s, in %s.\n",
		cr.Manifest.Name, cr.Manifest.Version, len(cr.Manifest.Images), u.TotalChunks,
		humanBytes(u.TotalBytes), humanBytes(u.StoredBytes), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(e.stdout, cr.ID)
	return nil
}

// releaseSummary is a release as 'release list' shows it.
type releaseSummary struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Channel  string    `json:"channel"`
	Created  time.Time `json:"created"`
	Images   int       `json:"images"`
	Chunks   int       `json:"chunks"`
	Missing  int       `json:"missing_chunks"`
	Complete bool      `json:"complete"`
	Bytes    int64     `json:"content_bytes"`
}

func summarize(st *release.Store, sr *release.Signed) releaseSummary {
	d := st.DiffReleases(nil, sr.Manifest)
	missing := len(st.Missing(sr.Manifest))
	return releaseSummary{
		ID: sr.ID.String(), Name: sr.Manifest.Name, Version: sr.Manifest.Version,
		Channel: sr.Manifest.Channel, Created: sr.Manifest.Created, Images: len(sr.Manifest.Images),
		Chunks: d.TotalChunks, Missing: missing, Complete: missing == 0, Bytes: d.TotalBytes,
	}
}

func runReleaseList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["release list"])
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := readStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	all, err := st.List()
	if err != nil {
		return err
	}
	if bad, _ := st.Damaged(); len(bad) > 0 && !*jsonOut {
		for _, err := range bad {
			fmt.Fprintf(e.stderr, "warning: %s\n", sentence(err))
		}
	}
	out := []releaseSummary{}
	for _, sr := range all {
		out = append(out, summarize(st, sr))
	}
	if *jsonOut {
		return e.printJSON(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stderr, "No releases in this store yet.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tVERSION\tCHANNEL\tCREATED\tSIZE\tSTATE")
	for _, r := range out {
		state := "complete"
		if !r.Complete {
			state = fmt.Sprintf("%d of %d chunks missing", r.Missing, r.Chunks)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID[:12], r.Name, r.Version, r.Channel,
			r.Created.Format("2006-01-02 15:04"), humanBytes(r.Bytes), state)
	}
	return tw.Flush()
}

func runReleaseShow(ctx context.Context, e *env, args []string) error {
	c := commands["release show"]
	fs := newFlags(c)
	jsonOut := fs.Bool("json", false, "print JSON (the manifest, with id and signatures)")
	st, sr, err := openRef(e, fs, c, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if *jsonOut {
		return e.printJSON(map[string]any{
			"id": sr.ID.String(), "summary": summarize(st, sr), "signatures": sr.Signatures, "manifest": hideSecrets(sr.Manifest),
		})
	}
	m := sr.Manifest
	s := summarize(st, sr)
	w := e.stdout
	fmt.Fprintf(w, "Release   %s %s (channel %s)\nID        %s\nCreated   %s\n", m.Name, m.Version, m.Channel, sr.ID, m.Created.Format(time.RFC3339))
	for _, sig := range sr.Signatures {
		fmt.Fprintf(w, "Signed by %s\n", sig.Key)
	}
	state := "complete"
	if !s.Complete {
		state = fmt.Sprintf("%d of %d chunks missing", s.Missing, s.Chunks)
	}
	fmt.Fprintf(w, "Content   %s in %d chunks, %s\n", humanBytes(s.Bytes), s.Chunks, state)
	var names []string
	for _, f := range m.Compose {
		names = append(names, f.Name)
	}
	fmt.Fprintf(w, "Compose   %s\n", strings.Join(names, ", "))
	if m.Files != nil {
		var size int64
		var top []string
		for _, f := range m.Files.Entries {
			size += f.Size
			if !strings.Contains(f.Path, "/") {
				if f.Dir {
					top = append(top, f.Path+"/")
				} else {
					top = append(top, f.Path)
				}
			}
		}
		fmt.Fprintf(w, "Files     %d files and folders, %s:\n", len(m.Files.Entries), humanBytes(size))
		printWrapped(w, "            ", top)
	}
	printEnv(w, "Manages   ", m.Env)
	printEnv(w, "Proposes  ", m.EnvDefaults)
	sizes := map[release.Digest]int64{}
	for _, b := range m.Blobs {
		sizes[b.Digest] = b.Size
	}
	fmt.Fprintln(w, "Images:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, img := range m.Images {
		var total int64
		for _, l := range img.Layers {
			total += sizes[l]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d layers\t%s\n", strings.Join(img.Tags, ", "), img.Config.Hex()[:12], len(img.Layers), humanBytes(total))
	}
	return tw.Flush()
}

func runReleaseVerify(ctx context.Context, e *env, args []string) error {
	c := commands["release verify"]
	fs := newFlags(c)
	jsonOut := fs.Bool("json", false, "print JSON")
	st, sr, err := openRef(e, fs, c, args)
	if err != nil {
		return err
	}
	defer st.Close()
	verr := st.Verify(ctx, sr.ID)
	if *jsonOut {
		res := map[string]any{"id": sr.ID.String(), "ok": verr == nil}
		if verr != nil {
			res["error"] = verr.Error()
		}
		if err := e.printJSON(res); err != nil {
			return err
		}
	}
	if verr != nil {
		return verr
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "Release %s is intact: signed by a trusted key, every chunk and image checked.\n", sr)
	}
	return nil
}

func runReleaseDiff(ctx context.Context, e *env, args []string) error {
	c := commands["release diff"]
	fs := newFlags(c)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want two releases: the one a site has, then the new one")
	}
	st, err := readStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := st.Resolve(pos[0])
	if err != nil {
		return err
	}
	b, err := st.Resolve(pos[1])
	if err != nil {
		return err
	}
	d := st.DiffReleases(a.Manifest, b.Manifest)
	d.ManifestBytes = int64(len(b.Raw))
	if *jsonOut {
		return e.printJSON(map[string]any{"from": a.ID.String(), "to": b.ID.String(), "chunks": d.Chunks,
			"content_bytes": d.ContentBytes, "stored_bytes": d.StoredBytes, "manifest_bytes": d.ManifestBytes,
			"travel_bytes": d.StoredBytes + d.ManifestBytes, "total_chunks": d.TotalChunks, "total_content_bytes": d.TotalBytes})
	}
	fmt.Fprintf(e.stdout, "%s adds over %s:\n  %d of %d chunks\n  %s of content, %s stored (what travels, plus a %s manifest)\n",
		b, a, d.Chunks, d.TotalChunks, humanBytes(d.ContentBytes), humanBytes(d.StoredBytes), humanBytes(d.ManifestBytes))
	return nil
}

func runReleaseRm(ctx context.Context, e *env, args []string) error {
	c := commands["release rm"]
	fs := newFlags(c)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	ref, err := oneRef(pos, c)
	if err != nil {
		return err
	}
	st, err := readStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	// By ID, without reading the release: a damaged one can be removed too.
	id, err := st.ResolveID(ref)
	if err != nil {
		return err
	}
	name := id.Short()
	if sr, err := st.Get(id); err == nil {
		name = sr.String()
	}
	// A site runs it, ran it last (rollback needs it) or is applying it.
	inUse, err := upgrade.InUse(e.dataDir)
	if err != nil {
		return err
	}
	if slices.Contains(inUse, id) {
		return fmt.Errorf("release %s is in use by a site here (running, being applied, or kept for a rollback); it cannot be removed", name)
	}
	gc, err := st.Remove(ctx, id)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(map[string]any{"id": id.String(), "removed_chunks": gc.Removed, "freed_bytes": gc.RemovedBytes})
	}
	fmt.Fprintf(e.stderr, "Removed %s; freed %s in %d chunks no other release uses.\n", name, humanBytes(gc.RemovedBytes), gc.Removed)
	return nil
}

func runReleaseImages(ctx context.Context, e *env, args []string) error {
	streamingHeap()
	c := commands["release images"]
	st, sr, err := openRef(e, newFlags(c), c, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if isTerminal(os.Stdout) {
		return usagef("refusing to write a docker-archive to a terminal; pipe it: ferry release images %s | docker load", sr.ID.Short())
	}
	if missing := st.Missing(sr.Manifest); len(missing) > 0 {
		return fmt.Errorf("release %s lacks %d of its chunks; fetch or import it completely first: %w", sr, len(missing), release.ErrIncomplete)
	}
	return release.WriteArchive(ctx, e.stdout, st.Chunks, sr.Manifest, nil)
}

func runReleaseExport(ctx context.Context, e *env, args []string) error {
	c := commands["release export"]
	fs := newFlags(c)
	to := fs.String("to", "", "folder to write to (e.g. a USB stick)")
	since := fs.String("since", "", "leave out the chunks this release (which the site has) holds")
	jsonOut := fs.Bool("json", false, "print JSON")
	st, sr, err := openRef(e, fs, c, args, needTo(to))
	if err != nil {
		return err
	}
	defer st.Close()
	var base *release.Manifest
	if *since != "" {
		b, err := st.Resolve(*since)
		if err != nil {
			return err
		}
		base = b.Manifest
	}
	t, err := release.Export(ctx, st, sr, *to, base)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(t)
	}
	fmt.Fprintf(e.stderr, "Exported %s to %s: %d chunks, %s. On the site: ferry release import %s\n",
		sr, *to, t.Chunks, humanBytes(t.StoredBytes), *to)
	return nil
}

func runReleaseImport(ctx context.Context, e *env, args []string) error {
	c := commands["release import"]
	fs := newFlags(c)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one folder written by 'ferry release export'")
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	// Statements first, to say what they are; Import takes in any it
	// did not, before it judges the releases.
	sts, err := release.ImportStatements(st, pos[0])
	if err != nil {
		return err
	}
	for _, s := range sts.Kept {
		fmt.Fprintf(e.stderr, "Took in the %s.\n", s)
	}
	ts, err := release.Import(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(ts)
	}
	for _, t := range ts {
		if t.Refused != "" {
			fmt.Fprintf(e.stderr, "Left %s on the stick: %s\n", t.Release, sentence(errors.New(t.Refused)))
			continue
		}
		fmt.Fprintf(e.stderr, "Imported %s: %d new chunks (%s), %d already here.\n", t.Release, t.Chunks, humanBytes(t.StoredBytes), t.Skipped)
		switch {
		case t.Missing > 0 && t.Since != "":
			fmt.Fprintf(e.stderr, "  %d chunks are still missing: this export was made with --since %s; import that release, or fetch the rest from a peer.\n", t.Missing, t.Since)
		case t.Missing > 0:
			fmt.Fprintf(e.stderr, "  %d chunks are still missing: the folder does not say it was made with --since (an older ferry wrote it), so it may be damaged; export it again, or fetch the rest from a peer.\n", t.Missing)
		}
	}
	return nil
}

// needTo is the check of commands whose --to DIR is required.
func needTo(to *string) func() error {
	return func() error {
		if *to == "" {
			return usagef("--to DIR is required")
		}
		return nil
	}
}

// splitCommas splits repeatable flag values that may be comma-separated.
func splitCommas(l []string) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func fileCount(m *release.Manifest) int {
	if m.Files == nil {
		return 0
	}
	return len(m.Files.Entries)
}

// hiddenValue stands for a secret's value in everything release show prints.
const hiddenValue = "(secret, not shown)"

// hideSecrets returns a copy of m whose .env values of secret keys
// (passwords, tokens) are replaced by hiddenValue.
func hideSecrets(m *release.Manifest) *release.Manifest {
	c := *m
	hide := func(env map[string]string) map[string]string {
		if env == nil {
			return nil
		}
		out := make(map[string]string, len(env))
		for k, v := range env {
			if release.IsSecretKey(k) {
				v = hiddenValue
			}
			out[k] = v
		}
		return out
	}
	c.Env, c.EnvDefaults = hide(m.Env), hide(m.EnvDefaults)
	return &c
}

// printEnv prints .env keys one per line under a label, secrets hidden and
// long values cut.
func printEnv(w io.Writer, label string, env map[string]string) {
	for i, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		if release.IsSecretKey(k) {
			v = hiddenValue
		} else if r := []rune(v); len(r) > 60 {
			v = string(r[:59]) + "…"
		}
		if i > 0 {
			label = strings.Repeat(" ", len(label))
		}
		fmt.Fprintf(w, "%s%s=%s\n", label, k, v)
	}
}

// printWrapped prints words after indent, wrapped at 80 columns.
func printWrapped(w io.Writer, indent string, words []string) {
	line := indent
	for i, word := range words {
		if i < len(words)-1 {
			word += ","
		}
		if len(line) > len(indent) && len(line)+1+len(word) > 80 {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}
