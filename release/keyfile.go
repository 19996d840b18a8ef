package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// A private key file (a root key or a signing key: the file does not say
// which; the trust list and certificates do) is one of:
//
//   - encrypted (the default): an age file in its ASCII armor, encrypted to
//     a passphrase (scrypt), whose plain text is the unencrypted form below;
//   - unencrypted (asked for with --unencrypted, and every key written
//     before ferry encrypted keys): one line, "ferry-ed25519-private:" and
//     the base64 ed25519 seed.
//
// Either way the file has mode 0600, is never overwritten, and is refused
// when other users can read or change it.

// ScryptWorkFactor is the log2 of the scrypt work factor of new encrypted
// keys: 18, about a second on a laptop (age's default). Tests lower it.
var ScryptWorkFactor = 18

// maxScryptLogN bounds the work a key file may ask of LoadPrivateKeyWith.
const maxScryptLogN = 22

// maxKeyFileSize bounds what is read of a key file.
const maxKeyFileSize = 16 << 10

// ErrPassphrase means a key file's passphrase was wrong or not given.
var ErrPassphrase = errors.New("wrong or missing passphrase")

// Passphrase supplies the passphrase of an encrypted key file. It is called
// only when the file is encrypted, at most once per load.
type Passphrase func() (string, error)

// GenerateKey writes a new private key to path (mode 0600), encrypted to
// passphrase unless it is empty, and returns its public key. It refuses to
// overwrite an existing file.
func GenerateKey(path, passphrase string) (PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, err
	}
	if err := WritePrivateKey(path, priv, passphrase); err != nil {
		return PublicKey{}, err
	}
	var k PublicKey
	copy(k[:], pub)
	return k, nil
}

// WritePrivateKey writes priv to a new file at path (mode 0600), encrypted
// to passphrase unless it is empty.
func WritePrivateKey(path string, priv ed25519.PrivateKey, passphrase string) error {
	plain := []byte(privateKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
	data := plain
	if passphrase != "" {
		var err error
		if data, err = encryptKey(plain, passphrase); err != nil {
			return fmt.Errorf("encrypt key: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite a key (move it away first)", path)
	}
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

func encryptKey(plain []byte, passphrase string) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(ScryptWorkFactor)
	var b bytes.Buffer
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// KeyFileEncrypted reports whether the key file at path is encrypted.
func KeyFileEncrypted(path string) (bool, error) {
	b, err := safefile.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return false, fmt.Errorf("read key: %w", err)
	}
	return isEncrypted(b), nil
}

func isEncrypted(b []byte) bool {
	b = bytes.TrimSpace(b)
	return bytes.HasPrefix(b, []byte(armor.Header)) || bytes.HasPrefix(b, []byte("age-encryption.org/"))
}

// LoadPrivateKey reads an unencrypted key file; an encrypted one is refused
// with a sentence saying how to give its passphrase. See LoadPrivateKeyWith.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	return LoadPrivateKeyWith(path, nil)
}

// LoadPrivateKeyWith reads a key written by GenerateKey or WritePrivateKey,
// asking pass for the passphrase when the file is encrypted. It refuses a
// file other users can read or change (safefile.ErrLoosePermissions; the
// error says the chmod to run): whoever reads the key can sign. A wrong
// passphrase is ErrPassphrase.
func LoadPrivateKeyWith(path string, pass Passphrase) (ed25519.PrivateKey, error) {
	b, err := safefile.ReadSecret(path, "signing key")
	if errors.Is(err, safefile.ErrLoosePermissions) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("%s is not a ferry private key (too large)", path)
	}
	if isEncrypted(b) {
		if pass == nil {
			return nil, errorOf(ErrPassphrase, "%s is encrypted; give its passphrase (FERRY_PASSPHRASE, --passphrase-file FILE, or at the prompt)", path)
		}
		p, err := pass()
		if err != nil {
			return nil, err
		}
		if b, err = decryptKey(b, p); err != nil {
			if errors.Is(err, ErrPassphrase) {
				return nil, errorOf(ErrPassphrase, "the passphrase of %s is wrong (the key file was left as it was)", path)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	s, ok := strings.CutPrefix(string(bytes.TrimSpace(b)), privateKeyPrefix)
	seed, err := base64.StdEncoding.DecodeString(s)
	if !ok || err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is not a ferry private key (make one with 'ferry key generate --out FILE')", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func decryptKey(b []byte, passphrase string) ([]byte, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, ErrPassphrase
	}
	id.SetMaxWorkFactor(maxScryptLogN)
	var src io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(armor.Header)) {
		src = armor.NewReader(bytes.NewReader(bytes.TrimSpace(b)))
	}
	r, err := age.Decrypt(src, id)
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, ErrPassphrase
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt the key: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("decrypt the key: %w", err)
	}
	return out, nil
}
