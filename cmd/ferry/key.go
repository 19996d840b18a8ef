package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/ferry-mesh/ferry/release"
)

func init() {
	register(&command{
		name:    "key generate",
		usage:   "--out FILE [--unencrypted | --passphrase-file FILE]",
		summary: "make a signing key (file mode 0600, encrypted with a passphrase) and print its public key",
		run:     runKeyGenerate,
	})
	register(&command{
		name:    "trust add",
		usage:   "PUBKEY [--comment TEXT]",
		summary: "accept releases signed by this publisher key",
		run:     runTrustAdd,
	})
	register(&command{
		name:    "trust list",
		usage:   "[--json]",
		summary: "show the publisher keys this node trusts",
		run:     runTrustList,
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
	if *unencrypted && *passFile != "" {
		return usagef("--unencrypted and --passphrase-file exclude each other")
	}
	pub, err := writeNewKey(e, *out, *passFile, *unencrypted)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(map[string]any{"public_key": pub.String(), "private_key_file": *out, "encrypted": !*unencrypted})
	}
	fmt.Fprintln(e.stdout, pub)
	how := "encrypted with your passphrase"
	if *unencrypted {
		how = "unencrypted"
	}
	fmt.Fprintf(e.stderr, "Private key written to %s, %s. Keep it secret; give sites the public key above for 'ferry trust add'.\n", *out, how)
	return nil
}

func runTrustAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust add"])
	comment := fs.String("comment", "", "a note kept beside the key, e.g. who it belongs to")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one public key")
	}
	k, err := release.ParsePublicKey(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	st, err := release.OpenStore(e.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.Trusted()
	if err != nil {
		return err
	}
	if err := t.Add(k, *comment); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Releases signed by %s are now accepted.\n", k)
	return nil
}

func runTrustList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["trust list"])
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := release.OpenStore(e.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.Trusted()
	if err != nil {
		return err
	}
	keys := t.Keys()
	if *jsonOut {
		if keys == nil {
			keys = []release.TrustedKey{}
		}
		return e.printJSON(keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(e.stderr, "No trusted keys: this node accepts no release yet. Add the publisher's key with 'ferry trust add KEY'.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tCOMMENT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k.Key, k.Comment)
	}
	return tw.Flush()
}
