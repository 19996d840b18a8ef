package i18n

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		en, fr string
	}{
		{0, "0 seconds", "0 seconde"},
		{time.Second, "1 second", "1 seconde"},
		{45 * time.Second, "45 seconds", "45 secondes"},
		{time.Minute, "1 minute", "1 minute"},
		{90 * time.Second, "1 minute 30 seconds", "1 minute 30"},
		{63 * time.Second, "1 minute 3 seconds", "1 minute 3"},
		{30 * time.Minute, "30 minutes", "30 minutes"},
		{2*time.Hour + 5*time.Minute + 20*time.Second, "2 hours 5 minutes", "2 heures 5 minutes"},
		{time.Hour, "1 hour", "1 heure"},
		{1500 * time.Millisecond, "2 seconds", "2 secondes"},
	} {
		if got := FormatDuration(EN, tc.d); got != tc.en {
			t.Errorf("EN %v: %q, want %q", tc.d, got, tc.en)
		}
		if got := FormatDuration(FR, tc.d); got != tc.fr {
			t.Errorf("FR %v: %q, want %q", tc.d, got, tc.fr)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n      int64
		en, fr string
	}{
		{1, "1 byte", "1 octet"},
		{0, "0 bytes", "0 octet"},
		{512, "512 bytes", "512 octets"},
		{340 << 10, "340 KB", "340 Ko"},
		{12 << 20, "12 MB", "12 Mo"},
		{3 << 29, "1.5 GB", "1,5 Go"},
		{250 << 30, "250 GB", "250 Go"},
	} {
		if got := FormatBytes(EN, tc.n); got != tc.en {
			t.Errorf("EN %d: %q, want %q", tc.n, got, tc.en)
		}
		if got := FormatBytes(FR, tc.n); got != tc.fr {
			t.Errorf("FR %d: %q, want %q", tc.n, got, tc.fr)
		}
	}
	if got := FormatInt(FR, 1234567); got != "1\u202f234\u202f567" {
		t.Errorf("FR 1234567: %q", got)
	}
	if got := FormatInt(EN, -1234); got != "-1,234" {
		t.Errorf("EN -1234: %q", got)
	}
}

// TestCountsAndDurationsReadAsWords: the sentences that read wrong before
// the catalogue ("Loading 1 new programs", "up to 1m3").
func TestCountsAndDurationsReadAsWords(t *testing.T) {
	for _, tc := range []struct {
		m      Message
		en, fr string
	}{
		{M("load.start", "n", 1, "version", "3.2.0", "size", int64(12<<20)),
			"Loading 1 new program of version 3.2.0 into Docker (12 MB)…",
			"Chargement de 1 nouveau programme de la version 3.2.0 dans Docker (12 Mo)…"},
		{M("load.start", "n", 3, "version", "3.2.0", "size", int64(3<<29)),
			"Loading 3 new programs of version 3.2.0 into Docker (1.5 GB)…",
			"Chargement de 3 nouveaux programmes de la version 3.2.0 dans Docker (1,5 Go)…"},
		{M("health.wait", "what", M("subject.version", "version", "3.2.0"), "limit", 90*time.Second),
			"Waiting for version 3.2.0 to start and answer (up to 1 minute 30 seconds)…",
			"En attente : la version 3.2.0 doit démarrer et répondre (jusqu'à 1 minute 30)…"},
		{M("health.up", "what", M("subject.site"), "took", 2*time.Minute),
			"The site is up and answers correctly (after 2 minutes).",
			"Le site a démarré et répond correctement (après 2 minutes)."},
	} {
		if got := tc.m.In(EN); got != tc.en {
			t.Errorf("EN:\n got %q\nwant %q", got, tc.en)
		}
		if got := tc.m.In(FR); got != tc.fr {
			t.Errorf("FR:\n got %q\nwant %q", got, tc.fr)
		}
	}
}

// TestMessageJSON: a message read back from JSON (an audit log, the
// console's API) renders as the original, nested phrases included.
func TestMessageJSON(t *testing.T) {
	m := M("rollback.preflight", "prev", M("subject.version", "version", "3.1.0"),
		"saved", time.Date(2026, 3, 2, 14, 5, 0, 0, time.Local))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, l := range Langs {
		if got, want := back.In(l), m.In(l); got != want {
			t.Errorf("%s after JSON %s: %q, want %q", l, b, got, want)
		}
	}
	if got := m.In(FR); got != "Vérification que le site peut revenir à la version 3.1.0 (sauvegardée le 2 mars 2026 14:05)…" {
		t.Errorf("FR: %q", got)
	}
}

// TestUnknownRendersItself: a message from a newer ferry, or a missing
// argument, still shows something readable.
func TestUnknownRendersItself(t *testing.T) {
	if got := M("no.such.key").In(FR); got != "No.such.key" {
		t.Errorf("unknown key: %q", got)
	}
	if got := M("upgrade.start").In(EN); got != "Starting version {version}…" {
		t.Errorf("missing argument: %q", got)
	}
	deep := M("subject.upgrade_to")
	for range 10 {
		deep = M("subject.upgrade_to", "version", deep)
	}
	if got := deep.In(EN); len(got) > 200 {
		t.Errorf("nesting is not bounded: %q", got)
	}
	if (Message{}).In(EN) != "" {
		t.Error("the zero message is not empty")
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want Lang
	}{
		{map[string]string{}, EN},
		{map[string]string{"LANG": "fr_FR.UTF-8"}, FR},
		{map[string]string{"LANG": "fr_CD"}, FR},
		{map[string]string{"LANG": "en_US.UTF-8"}, EN},
		{map[string]string{"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, EN},
		{map[string]string{"LANG": "en_GB.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, FR},
		{map[string]string{"LANG": "en_GB.UTF-8", "LANGUAGE": "sw:fr:en"}, FR},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "fr"}, EN},
		{map[string]string{"LANG": "de_DE.UTF-8"}, EN},
	} {
		if got := FromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for h, want := range map[string]Lang{
		"":                           EN,
		"fr-CD,fr;q=0.9,en;q=0.8":    FR,
		"en-US,en;q=0.9,fr;q=0.8":    EN,
		"sw,fr;q=0.5":                FR,
		"de":                         EN,
		"en;q=0.2, fr;q=0.7":         FR,
		"fr;q=0":                     EN,
		"FR-fr":                      FR,
		"*;q=0.1,ln;q=0.9,fr;q=0.3 ": FR,
	} {
		if got := FromAcceptLanguage(h); got != want {
			t.Errorf("%q: %s, want %s", h, got, want)
		}
	}
}

func TestError(t *testing.T) {
	cause := errors.New("docker: connection refused")
	err := fmt.Errorf("wrapped: %w", &Error{Msg: M("err.docker"), Err: cause})
	var le *Error
	if !errors.As(err, &le) || !errors.Is(err, cause) {
		t.Fatal("errors.As / errors.Is do not see through")
	}
	if le.Msg.In(FR) != "Docker ne fonctionne pas sur cette machine ; rien n'a été changé. Demandez de l'aide." || le.Detail() != cause.Error() {
		t.Errorf("plain %q, detail %q", le.Msg.In(FR), le.Detail())
	}
}
