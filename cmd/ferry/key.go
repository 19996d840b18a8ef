package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/release"
)

func init() {
	register(&command{
		name:    "key generate",
		usage:   "--out FILE [--unencrypted | --passphrase-file FILE]",
		summary: "make a key (file mode 0600, encrypted with a passphrase) and print its public key: a publisher key, or a root key to keep offline",
		run:     runKeyGenerate,
	})
	register(&command{
		name:    "key create",
		usage:   "--root ROOT.key --out FILE --channel C... [--valid 365d] [--comment TEXT] [--to DIR]",
		summary: "make a signing key and certify it with the root key",
		run:     runKeyCreate,
	})
	register(&command{
		name:    "key certify",
		usage:   "--root ROOT.key (PUBKEY | --key FILE) --channel C... [--valid 365d] [--from DATE] [--comment TEXT] [--to DIR]",
		summary: "certify a signing key with the root key: the channels it signs and for how long",
		run:     runKeyCertify,
	})
	register(&command{
		name:    "key rotate",
		usage:   "--root ROOT.key --old PUBKEY --out FILE [--channel C]... [--valid 365d] [--to DIR]",
		summary: "replace a signing key: a new key takes over its channels, and the old one signs nothing more",
		run:     runKeyRotate,
	})
	register(&command{
		name:    "key revoke",
		usage:   "(--root ROOT.key | --key FILE) [PUBKEY] [--reason TEXT] [--to DIR]",
		summary: "revoke a key for good: every node that sees the revocation refuses its releases",
		run:     runKeyRevoke,
	})
	register(&command{
		name:    "trust add",
		usage:   "PUBKEY [--root] [--comment TEXT]",
		summary: "accept releases signed by this publisher key (--root: by the keys this root certifies)",
		run:     runTrustAdd,
	})
	register(&command{
		name:    "trust rm",
		usage:   "PUBKEY",
		summary: "stop trusting a key of the trust list (a root or a publisher key)",
		run:     runTrustRm,
	})
	register(&command{
		name:    "trust list",
		usage:   "[--json]",
		summary: "show the keys this node trusts, certified keys with their channels and expiry, and revoked ones",
		run:     runTrustList,
	})
	register(&command{
		name:    "trust export",
		usage:   "--to DIR [--json]",
		summary: "write this store's certificates and revocations to a folder (a USB stick) for 'ferry release import'",
		run:     runTrustExport,
	})
}

func runKeyGenerate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["key generate"])
	out := fs.String("out", "", "file to write the private key to (must not exist)")
	unencrypted := fs.Bool("unencrypted", false, "write the key in the clear (for machines that sign unattended; keep the file safe)")
	passFile := passphraseFlag(fs)
	jsonOut := fs.Bool("json", false, "print the public key as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	pub, err := newKeyFile(e, *out, *passFile, *unencrypted)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(map[string]any{"public_key": pub.String(), "private_key_file": *out, "encrypted": !*unencrypted})
	}
	fmt.Fprintln(e.stdout, pub)
	fmt.Fprintf(e.stderr, "Private key written to %s, %s. Keep it secret; give sites the public key above for 'ferry trust add' (a root key: 'ferry trust add --root').\n", *out, encryptedWord(*unencrypted))
	return nil
}

func encryptedWord(unencrypted bool) string {
	if unencrypted {
		return "unencrypted"
	}
	return "encrypted with your passphrase"
}

// newKeyFile checks the flags of a command that writes a new key, and
// writes it.
func newKeyFile(e *env, out, passFile string, unencrypted bool) (release.PublicKey, error) {
	if unencrypted && passFile != "" {
		return release.PublicKey{}, usagef("--unencrypted and --passphrase-file exclude each other")
	}
	return writeNewKey(e, out, passFile, unencrypted)
}

// certFlags are the flags of the commands that certify a key.
type certFlags struct {
	channels stringList
	valid    *string
	from     *string
	comment  *string
}

func addCertFlags(fs *flag.FlagSet, withFrom bool) *certFlags {
	c := &certFlags{}
	fs.Var(&c.channels, "channel", "channel the key may sign (repeatable or comma-separated; '*' for every channel)")
	c.valid = fs.String("valid", "365d", "how long the key may sign, from --from (e.g. 365d, 720h)")
	if withFrom {
		c.from = fs.String("from", "", "when the key may start signing, as 2026-03-01 or RFC 3339 (default now)")
	}
	c.comment = fs.String("comment", "", "who holds the key, shown by 'ferry trust list'")
	return c
}

// period returns the creation times the key may sign, and its channels.
func (c *certFlags) period() ([]string, time.Time, time.Time, error) {
	channels := splitCommas(c.channels)
	if len(channels) == 0 {
		return nil, time.Time{}, time.Time{}, usagef("give the channels the key may sign with --channel C (repeatable), or --channel '*' for every channel")
	}
	valid, err := parseDays(*c.valid)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	from := time.Now()
	if c.from != nil && *c.from != "" {
		if from, err = parseDate(*c.from); err != nil {
			return nil, time.Time{}, time.Time{}, err
		}
	}
	return channels, from, from.Add(valid), nil
}

// parseDays parses a Go duration, or a number of days as "365d".
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, usagef("--valid %q: give days as 365d, or a duration such as 720h", s)
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("date %q: give 2026-03-01 or 2026-03-01T10:00:00Z", s)
}

// keyFileFlags adds a private key flag and --passphrase-file.
func keyFileFlags(fs *flag.FlagSet, name, usage string) (*string, *string) {
	return fs.String(name, "", usage), passphraseFlag(fs)
}

// loadRoot reads the root key and makes sure the store trusts it as a root,
// so that the statements it signs count here (a publisher's store trusts
// its own root, as it trusts its own publisher key).
func loadRoot(e *env, st *release.Store, path, passFile string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, usagef("--root ROOT.key is required (make one with 'ferry key generate --out root.key')")
	}
	root, err := loadKey(e, path, passFile)
	if err != nil {
		return nil, err
	}
	tl, err := st.Trusted()
	if err != nil {
		return nil, err
	}
	pub := release.PublicKeyOf(root)
	if !tl.IsRoot(pub) {
		if err := tl.AddRoot(pub, "root key used by 'ferry key'"); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "Trusting your root key %s in this store.\n", pub)
	}
	return root, nil
}

// keep stores statements in the store and, with to, writes the store's
// statements to that folder (a stick).
func keep(e *env, st *release.Store, to string, sts ...*release.Statement) error {
	for _, s := range sts {
		if _, err := st.AddStatement(s); err != nil {
			return err
		}
	}
	if to != "" {
		if _, err := release.ExportStatements(st, to); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Written to %s: import it at each node with 'ferry release import %s'.\n", to, to)
	}
	return nil
}

func printStatements(e *env, jsonOut bool, extra map[string]any, sts ...*release.Statement) error {
	if jsonOut {
		var list []map[string]any
		for _, s := range sts {
			list = append(list, map[string]any{"id": s.ID.String(), "type": s.Body.Type, "key": s.Body.Key.String(),
				"channels": s.Body.Channels, "not_before": s.Body.NotBefore, "not_after": s.Body.NotAfter, "reason": s.Body.Reason})
		}
		out := map[string]any{"statements": list}
		for k, v := range extra {
			out[k] = v
		}
		return e.printJSON(out)
	}
	for _, s := range sts {
		fmt.Fprintln(e.stdout, s.ID)
	}
	return nil
}

func runKeyCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["key create"])
	rootFile, rootPass := keyFileFlags(fs, "root", "the root key that certifies the new key")
	out := fs.String("out", "", "file to write the new signing key to (must not exist)")
	unencrypted := fs.Bool("unencrypted", false, "write the new key in the clear (for a machine that signs unattended)")
	newPass := fs.String("new-passphrase-file", "", "file whose first line is the new key's passphrase (else "+passphraseEnv+", else a prompt)")
	cf := addCertFlags(fs, false)
	to := fs.String("to", "", "also write the certificate to this folder (a USB stick)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	pub, cert, err := certifyWith(e, *rootFile, *rootPass, *to, cf, func() (release.PublicKey, error) {
		return newKeyFile(e, *out, *newPass, *unencrypted)
	})
	if err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "Signing key %s written to %s, %s, and certified for %s until %s.\n",
			pub, *out, encryptedWord(*unencrypted), strings.Join(cert.Body.Channels, ", "), cert.Body.NotAfter.Format(time.DateOnly))
	}
	return printStatements(e, *jsonOut, map[string]any{"public_key": pub.String(), "private_key_file": *out}, cert)
}

// certifyWith certifies the key keyFor returns with the root key and keeps
// the certificate. keyFor is called once the flags and the root key are
// good, so that a refusal leaves no new key file behind.
func certifyWith(e *env, rootFile, rootPass, to string, cf *certFlags, keyFor func() (release.PublicKey, error)) (release.PublicKey, *release.Statement, error) {
	var key release.PublicKey
	channels, from, until, err := cf.period()
	if err != nil {
		return key, nil, err
	}
	st, err := openStore(e)
	if err != nil {
		return key, nil, err
	}
	defer st.Close()
	root, err := loadRoot(e, st, rootFile, rootPass)
	if err != nil {
		return key, nil, err
	}
	if key, err = keyFor(); err != nil {
		return key, nil, err
	}
	cert, err := release.Certify(root, key, channels, from, until, *cf.comment)
	if err != nil {
		return key, nil, err
	}
	return key, cert, keep(e, st, to, cert)
}

// keyArg is the public key a command names: PUBKEY, or the key of --key FILE.
func keyArg(e *env, pos []string, keyFile, passFile string) (release.PublicKey, ed25519.PrivateKey, error) {
	switch {
	case len(pos) > 1:
		return release.PublicKey{}, nil, usagef("want one public key")
	case len(pos) == 1 && keyFile != "":
		return release.PublicKey{}, nil, usagef("give the key as PUBKEY or as --key FILE, not both")
	case len(pos) == 1:
		k, err := release.ParsePublicKey(pos[0])
		if err != nil {
			return k, nil, usagef("%v", err)
		}
		return k, nil, nil
	case keyFile != "":
		priv, err := loadKey(e, keyFile, passFile)
		if err != nil {
			return release.PublicKey{}, nil, err
		}
		return release.PublicKeyOf(priv), priv, nil
	}
	return release.PublicKey{}, nil, usagef("give the key as PUBKEY or as --key FILE")
}

func runKeyCertify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["key certify"])
	rootFile, rootPass := keyFileFlags(fs, "root", "the root key that certifies")
	keyFile := fs.String("key", "", "the signing key's private key file, instead of PUBKEY (asks its passphrase if it is encrypted)")
	cf := addCertFlags(fs, true)
	to := fs.String("to", "", "also write the certificate to this folder (a USB stick)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	key, cert, err := certifyWith(e, *rootFile, *rootPass, *to, cf, func() (release.PublicKey, error) {
		k, _, err := keyArg(e, pos, *keyFile, "")
		return k, err
	})
	if err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "Key %s is certified for %s, for releases created from %s until %s.\n",
			key, strings.Join(cert.Body.Channels, ", "), cert.Body.NotBefore.Format(time.DateOnly), cert.Body.NotAfter.Format(time.DateOnly))
	}
	return printStatements(e, *jsonOut, nil, cert)
}

func runKeyRotate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["key rotate"])
	rootFile, rootPass := keyFileFlags(fs, "root", "the root key that certified the old key")
	oldStr := fs.String("old", "", "the public key to replace")
	out := fs.String("out", "", "file to write the new signing key to (must not exist)")
	unencrypted := fs.Bool("unencrypted", false, "write the new key in the clear")
	newPass := fs.String("new-passphrase-file", "", "file whose first line is the new key's passphrase (else "+passphraseEnv+", else a prompt)")
	var channels stringList
	fs.Var(&channels, "channel", "channels of the new key (default: the old key's)")
	valid := fs.String("valid", "365d", "how long the new key may sign")
	comment := fs.String("comment", "", "who holds the new key (default: the old key's comment)")
	to := fs.String("to", "", "also write the certificates to this folder (a USB stick)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" || *oldStr == "" {
		return usagef("--old PUBKEY and --out FILE are required")
	}
	old, err := release.ParsePublicKey(*oldStr)
	if err != nil {
		return usagef("--old: %v", err)
	}
	validity, err := parseDays(*valid)
	if err != nil {
		return err
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	root, err := loadRoot(e, st, *rootFile, *rootPass)
	if err != nil {
		return err
	}
	tl, err := st.Trusted()
	if err != nil {
		return err
	}
	// Checked before the new key is written: a refused rotation leaves no file.
	if _, err := tl.Rotate(root, old, old, splitCommas(channels), validity, *comment); err != nil {
		return err
	}
	pub, err := newKeyFile(e, *out, *newPass, *unencrypted)
	if err != nil {
		return err
	}
	sts, err := tl.Rotate(root, old, pub, splitCommas(channels), validity, *comment)
	if err != nil {
		return err
	}
	if err := keep(e, st, *to, sts...); err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "New signing key %s written to %s, %s; it signs %s until %s. Key %s signs nothing more; what it signed stays valid.\n",
			pub, *out, encryptedWord(*unencrypted), strings.Join(sts[0].Body.Channels, ", "), sts[0].Body.NotAfter.Format(time.DateOnly), old.Short())
	}
	return printStatements(e, *jsonOut, map[string]any{"public_key": pub.String(), "private_key_file": *out}, sts...)
}

func runKeyRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["key revoke"])
	rootFile, passFile := keyFileFlags(fs, "root", "the root key that revokes")
	keyFile := fs.String("key", "", "revoke this key with itself (a publisher key with no root above it), or name the key to revoke with --root")
	reason := fs.String("reason", "", "why, shown at every node (e.g. 'laptop lost')")
	to := fs.String("to", "", "also write the revocation to this folder (a USB stick)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	var signer ed25519.PrivateKey
	var key release.PublicKey
	if *rootFile != "" {
		if key, _, err = keyArg(e, pos, *keyFile, ""); err != nil {
			return err
		}
		if signer, err = loadRoot(e, st, *rootFile, *passFile); err != nil {
			return err
		}
	} else {
		if len(pos) > 0 || *keyFile == "" {
			return usagef("give --root ROOT.key and the key to revoke, or --key FILE to revoke a key with itself")
		}
		if key, signer, err = keyArg(e, nil, *keyFile, *passFile); err != nil {
			return err
		}
	}
	rev, err := release.Revoke(signer, key, *reason)
	if err != nil {
		return err
	}
	if err := keep(e, st, *to, rev); err != nil {
		if errors.Is(err, release.ErrUntrusted) {
			return fmt.Errorf("this store does not trust key %s, so the revocation would count nowhere it is kept: %w", key.Short(), err)
		}
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(e.stderr, "Key %s is revoked: every node that sees this revocation (from the mesh, an upstream or a stick) refuses the releases it signed.\n", key)
	}
	return printStatements(e, *jsonOut, nil, rev)
}

// keyAndTrust parses a command's one PUBKEY, opens the store and loads its
// trust. The caller closes the store.
func keyAndTrust(e *env, fs *flag.FlagSet, args []string, open func(*env) (*release.Store, error)) (release.PublicKey, *release.Store, *release.TrustList, error) {
	var k release.PublicKey
	pos, err := parse(fs, args)
	if err != nil {
		return k, nil, nil, err
	}
	if len(pos) != 1 {
		return k, nil, nil, usagef("want exactly one public key")
	}
	if k, err = release.ParsePublicKey(pos[0]); err != nil {
		return k, nil, nil, usagef("%v", err)
	}
	st, err := open(e)
	if err != nil {
		return k, nil, nil, err
	}
	t, err := st.Trusted()
	if err != nil {
		st.Close()
		return k, nil, nil, err
	}
	return k, st, t, nil
}

func runTrustAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust add"])
	comment := fs.String("comment", "", "a note kept beside the key, e.g. who it belongs to")
	root := fs.Bool("root", false, "the key is a root key: accept the signing keys it certifies")
	k, st, t, err := keyAndTrust(e, fs, args, openStore)
	if err != nil {
		return err
	}
	defer st.Close()
	if *root {
		err = t.AddRoot(k, *comment)
	} else {
		err = t.Add(k, *comment)
	}
	if err != nil {
		return err
	}
	if rev := t.Revoked(k); rev != nil {
		fmt.Fprintf(e.stderr, "Note: key %s was revoked on %s; its releases stay refused.\n", k.Short(), rev.Body.Issued.Format(time.DateOnly))
	}
	if *root {
		fmt.Fprintf(e.stderr, "Releases signed by the keys that root %s certifies are now accepted.\n", k)
	} else {
		fmt.Fprintf(e.stderr, "Releases signed by %s are now accepted.\n", k)
	}
	return nil
}

func runTrustRm(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust rm"])
	k, st, t, err := keyAndTrust(e, fs, args, readStore)
	if err != nil {
		return err
	}
	defer st.Close()
	wasRoot := t.IsRoot(k)
	removed, err := t.Remove(k)
	if err != nil {
		return err
	}
	if !removed {
		return fmt.Errorf("key %s is not in this node's trust list ('ferry trust list' shows it; a certified key is stopped with 'ferry key revoke')", k.Short())
	}
	what := "its releases are"
	if wasRoot {
		what = "releases signed by the keys it certified are"
	}
	fmt.Fprintf(e.stderr, "Key %s removed from the trust list: %s no longer accepted here. Releases already in the store stay until removed ('ferry release rm').\n", k, what)
	return nil
}

func runTrustList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust list"])
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.Trusted()
	if err != nil {
		return err
	}
	keys := t.List(time.Now())
	if *jsonOut {
		if keys == nil {
			keys = []release.KeyStatus{}
		}
		return e.printJSON(keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(e.stderr, "No trusted keys: this node accepts no release yet. Add the publisher's key with 'ferry trust add KEY', or its root key with 'ferry trust add --root KEY'.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tROLE\tSTATUS\tCHANNELS\tSIGNS UNTIL\tCOMMENT")
	for _, k := range keys {
		channels, until := "-", "-"
		switch k.Role {
		case release.RolePublisher:
			channels, until = "any", "no expiry"
		case release.RoleSigning:
			if len(k.Channels) > 0 {
				channels, until = strings.Join(k.Channels, ","), k.NotAfter.Format(time.DateOnly)
			}
		}
		status := k.Status
		if k.Status == "revoked" {
			status = "revoked " + k.Revoked.Format(time.DateOnly)
			if k.Reason != "" {
				status += " (" + k.Reason + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Key, k.Role, status, channels, until, k.Comment)
	}
	return tw.Flush()
}

func runTrustExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust export"])
	to := fs.String("to", "", "the folder to write to (a USB stick)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := needTo(to)(); err != nil {
		return err
	}
	st, err := readStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := release.ExportStatements(st, *to)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(map[string]any{"written": n, "to": *to})
	}
	fmt.Fprintf(e.stderr, "%d statements written to %s; import them at each node with 'ferry release import %s'.\n", n, *to, *to)
	return nil
}
