package release

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"
)

// PublicKeyOf returns the public key of priv.
func PublicKeyOf(priv ed25519.PrivateKey) PublicKey {
	var k PublicKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return k
}

// Certify makes root's certificate of key: it may sign releases of
// channels created from from to until.
func Certify(root ed25519.PrivateKey, key PublicKey, channels []string, from, until time.Time, comment string) (*Statement, error) {
	if PublicKeyOf(root) == key {
		return nil, fmt.Errorf("a root cannot certify itself; make a signing key with 'ferry key create'")
	}
	return NewStatement(StatementBody{Type: TypeCertificate, Issued: time.Now(), Key: key,
		Channels: channels, NotBefore: from, NotAfter: until, Comment: comment}, root)
}

// Revoke makes signer's revocation of key, for good.
func Revoke(signer ed25519.PrivateKey, key PublicKey, reason string) (*Statement, error) {
	return NewStatement(StatementBody{Type: TypeRevocation, Issued: time.Now(), Key: key, Reason: reason}, signer)
}

// Rotate makes the statements that replace signing key old by next: a
// certificate of next for old's channels (or channels, when given), valid
// from now for validity, and a new certificate of old whose period ends
// now, so that old signs nothing more while what it signed stays valid.
// root must have certified old.
func (t *TrustList) Rotate(root ed25519.PrivateKey, old, next PublicKey, channels []string, validity time.Duration, comment string) ([]*Statement, error) {
	rootKey := PublicKeyOf(root)
	var cur *Statement
	for _, c := range t.index().certs[old] {
		if c.SignedBy(rootKey) {
			cur = c
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("key %s has no certificate by root %s in this store; certify the new key with 'ferry key certify' instead", old.Short(), rootKey.Short())
	}
	now := time.Now().UTC().Truncate(time.Second)
	if len(channels) == 0 {
		channels = slices.Clone(cur.Body.Channels)
	}
	if comment == "" {
		comment = cur.Body.Comment
	}
	nextCert, err := Certify(root, next, channels, now, now.Add(validity), comment)
	if err != nil {
		return nil, err
	}
	end := now
	if cur.Body.NotAfter.Before(end) {
		end = cur.Body.NotAfter
	}
	if !cur.Body.NotBefore.Before(end) {
		return nil, fmt.Errorf("key %s is not valid yet or any more (%s to %s); nothing to rotate", old.Short(), cur.Body.NotBefore.Format(time.DateOnly), cur.Body.NotAfter.Format(time.DateOnly))
	}
	oldComment := cur.Body.Comment + " (rotated)"
	if len(oldComment) > maxTextLen {
		oldComment = cur.Body.Comment
	}
	oldCert, err := NewStatement(StatementBody{Type: TypeCertificate, Issued: now, Key: old,
		Channels: cur.Body.Channels, NotBefore: cur.Body.NotBefore, NotAfter: end, Comment: oldComment}, root)
	if err != nil {
		return nil, err
	}
	return []*Statement{nextCert, oldCert}, nil
}
