package main

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/ferry-mesh/ferry/internal/safefile"
	"github.com/ferry-mesh/ferry/release"
)

// Passphrases of private keys come, in this order, from --passphrase-file,
// from FERRY_PASSPHRASE, or from a prompt on the terminal. A script with no
// terminal must give one of the first two.

// passphraseEnv names the environment variable a script sets.
const passphraseEnv = "FERRY_PASSPHRASE"

// passphraseFlag adds --passphrase-file to a command's flags.
func passphraseFlag(fs *flag.FlagSet) *string {
	return fs.String("passphrase-file", "", "file whose first line is the key's passphrase (else "+passphraseEnv+", else a prompt)")
}

// passphraseFor returns a release.Passphrase for the key file at path.
func passphraseFor(e *env, file, path string) release.Passphrase {
	return func() (string, error) { return readPassphrase(e, file, "Passphrase of "+path+": ", false) }
}

// newPassphrase asks for the passphrase of a new key: from a file or the
// environment as it is, at a prompt twice.
func newPassphrase(e *env, file, path string) (string, error) {
	return readPassphrase(e, file, "Passphrase to encrypt "+path+" with: ", true)
}

func readPassphrase(e *env, file, prompt string, confirm bool) (string, error) {
	if file != "" {
		b, err := safefile.ReadFile(file, 4096)
		if err != nil {
			return "", fmt.Errorf("read the passphrase file: %w", err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		p := string(bytes.TrimSuffix(line, []byte("\r")))
		if p == "" {
			return "", usagef("the passphrase file %s is empty", file)
		}
		return p, nil
	}
	if p := os.Getenv(passphraseEnv); p != "" {
		return p, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return "", usagef("a passphrase is needed and there is no terminal to ask for it: set %s or give --passphrase-file FILE", passphraseEnv)
	}
	defer tty.Close()
	ask := func(p string) (string, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
	p, err := ask(prompt)
	if err != nil {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	if p == "" {
		return "", usagef("the passphrase is empty")
	}
	if confirm {
		again, err := ask("The same passphrase again: ")
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		if again != p {
			return "", usagef("the two passphrases differ; nothing was written")
		}
	}
	return p, nil
}

// loadKey reads a private key file, asking for its passphrase if it is
// encrypted.
func loadKey(e *env, path, passFile string) (ed25519.PrivateKey, error) {
	return release.LoadPrivateKeyWith(path, passphraseFor(e, passFile, path))
}

// writeNewKey makes a key file: encrypted unless unencrypted is set.
func writeNewKey(e *env, path, passFile string, unencrypted bool) (release.PublicKey, error) {
	pass := ""
	if !unencrypted {
		var err error
		if pass, err = newPassphrase(e, passFile, path); err != nil {
			return release.PublicKey{}, err
		}
	}
	return release.GenerateKey(path, pass)
}
