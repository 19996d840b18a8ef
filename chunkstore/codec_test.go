package chunkstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEncodeRoundTrip is the property Decode(Encode(x)) == x, over sizes
// from empty to MaxChunkSize and content from incompressible to constant;
// and the stored encoding is never larger than the header plus the content.
func TestEncodeRoundTrip(t *testing.T) {
	s := openTemp(t)
	rng := rand.New(rand.NewPCG(1, 2))
	corpus := testcorpus.Bytes(4, MaxChunkSize)
	random := make([]byte, MaxChunkSize)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	sources := map[string][]byte{"corpus": corpus, "random": random, "zeros": make([]byte, MaxChunkSize)}
	sizes := []int{0, 1, 4, 5, 100, 4096, 65537, MaxChunkSize}
	for i := 0; i < 20; i++ {
		sizes = append(sizes, rng.IntN(MaxChunkSize+1))
	}
	for name, src := range sources {
		for _, n := range sizes {
			data := src[:n]
			prefix := []byte("keep")
			enc := s.Encode(append([]byte(nil), prefix...), data)
			if !bytes.HasPrefix(enc, prefix) {
				t.Fatalf("%s/%d: Encode clobbered dst", name, n)
			}
			enc = enc[len(prefix):]
			if len(enc) > headerSize+n {
				t.Fatalf("%s/%d: stored %d bytes, more than header+content %d", name, n, len(enc), headerSize+n)
			}
			got, err := s.Decode([]byte("dst"), enc)
			if err != nil {
				t.Fatalf("%s/%d: Decode: %v", name, n, err)
			}
			if !bytes.Equal(got[3:], data) || string(got[:3]) != "dst" {
				t.Fatalf("%s/%d: round trip changed the content", name, n)
			}
			if name == "random" && n > 100 && enc[4] != codecRaw {
				t.Fatalf("random/%d: stored with codec %d, want raw", n, enc[4])
			}
			if name == "zeros" && n > 100 && enc[4] != codecZstd {
				t.Fatalf("zeros/%d: stored with codec %d, want zstd", n, enc[4])
			}
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	s := openTemp(t)
	good := s.Encode(nil, bytes.Repeat([]byte("ferry "), 1000))
	zenc, _ := zstd.NewWriter(nil)
	bomb := zenc.EncodeAll(make([]byte, 3*MaxChunkSize), []byte("FCK\x01\x01"))
	justOver := zenc.EncodeAll(make([]byte, MaxChunkSize+1), []byte("FCK\x01\x01"))
	for _, tc := range []struct {
		name   string
		stored []byte
		want   error
	}{
		{"empty", nil, ErrCorrupt},
		{"short header", []byte("FCK\x01"), ErrCorrupt},
		{"bad magic", append([]byte("XCK"), good[3:]...), ErrCorrupt},
		{"future version", append([]byte("FCK\x02"), good[4:]...), ErrCorrupt},
		{"unknown codec", append([]byte("FCK\x01\x07"), good[5:]...), ErrCorrupt},
		{"truncated zstd", good[:len(good)-3], ErrCorrupt},
		{"zstd garbage", []byte("FCK\x01\x01not zstd at all"), ErrCorrupt},
		{"raw too large", append([]byte("FCK\x01\x00"), make([]byte, MaxChunkSize+1)...), ErrTooLarge},
		{"zstd just over the limit", justOver, ErrTooLarge},
		{"zstd bomb", bomb, nil}, // ErrCorrupt or ErrTooLarge: either refuses it
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Decode(nil, tc.stored)
			if err == nil {
				t.Fatalf("Decode accepted it (%d bytes out)", len(out))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Decode error %v, want %v", err, tc.want)
			}
			if tc.want == nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v, want ErrCorrupt or ErrTooLarge", err)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	id := Hash([]byte("ferry"))
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{id.String(), true},
		{strings.ToUpper(id.String()), true},
		{id.String()[:63], false},
		{id.String() + "0", false},
		{"zz" + id.String()[2:], false},
		{"", false},
	} {
		got, err := ParseID(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("ParseID(%q) error %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && got != id {
			t.Fatalf("ParseID(%q) = %s, want %s", tc.in, got, id)
		}
		var un ID
		if err := un.UnmarshalText([]byte(tc.in)); (err == nil) != tc.ok || un != got {
			t.Fatalf("UnmarshalText(%q) = %s, %v; ParseID gave %s", tc.in, un, err, got)
		}
	}
	text := []byte(id.String())
	if n := testing.AllocsPerRun(100, func() {
		var un ID
		un.UnmarshalText(text)
	}); n > 0 {
		t.Errorf("UnmarshalText allocates %.0f times per ID; a manifest decodes one per chunk", n)
	}
	var back ID
	txt, _ := id.MarshalText()
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatalf("text round trip: %v, %s", err, back)
	}
}

// FuzzDecode checks Decode never panics, never returns more than
// MaxChunkSize, reports failures as ErrCorrupt or ErrTooLarge, and that
// whatever it accepts survives a re-encode.
func FuzzDecode(f *testing.F) {
	s, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Add(s.Encode(nil, nil))
	f.Add(s.Encode(nil, []byte("hello")))
	f.Add(s.Encode(nil, bytes.Repeat([]byte("ferry "), 500)))
	f.Add([]byte("FCK\x01\x01"))
	f.Fuzz(func(t *testing.T, stored []byte) {
		out, err := s.Decode(nil, stored)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v is neither ErrCorrupt nor ErrTooLarge", err)
			}
			return
		}
		if len(out) > MaxChunkSize {
			t.Fatalf("Decode returned %d bytes, more than MaxChunkSize", len(out))
		}
		again, err := s.Decode(nil, s.Encode(nil, out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encode round trip failed: %v", err)
		}
	})
}

// FuzzParseID checks ParseID accepts exactly 64 hex digits and that what it
// accepts prints back as the same digits in lower case.
func FuzzParseID(f *testing.F) {
	f.Add(Hash(nil).String())
	f.Add("00")
	f.Add(strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != strings.ToLower(s) {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
	})
}
