package termtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"X \x1b[2J\x1b]0;pwned\a", "X ^[[2J^[]0;pwned^G"},
		{"nul\x00", "nul^@"},
		{"cr\roverwrite", "cr^Moverwrite"},
		{"back\bspace", "back^Hspace"},
		{"del\x7f", "del^?"},
		{"csi\u009b31m", "csi<U+009B>31m"},
		{"c1 \u0080 \u009f", "c1 <U+0080> <U+009F>"},
		{"rtl\u202eevil", "rtl<U+202E>evil"},
		{"\u202a\u202b\u202c\u202d", "<U+202A><U+202B><U+202C><U+202D>"},
		{"isolates \u2066\u2067\u2068\u2069", "isolates <U+2066><U+2067><U+2068><U+2069>"},
		{"marks \u200e\u200f\u061c", "marks <U+200E><U+200F><U+061C>"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab"},
		{"emoji 😀, 世界, café, عربى", "emoji 😀, 世界, café, عربى"},
		{"no-break\u00a0space", "no-break\u00a0space"},
		{"bad \xff utf-8 \xc3", "bad \uFFFD utf-8 \uFFFD"},
		{"8-bit csi \x9b31m", "8-bit csi \uFFFD31m"},
	} {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	in := "parley: error: unknown flag: --x\x1b]0;pwned\a\n"
	n, err := w.Write([]byte(in))
	if n != len(in) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(in))
	}
	if got, want := buf.String(), "parley: error: unknown flag: --x^[]0;pwned^G\n"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
}

func TestEscapeJSON(t *testing.T) {
	text := "X \x1b[2J \u009b \x7f \u202eevil\u2066 \u200f\u061c 😀\n\t"
	b, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		t.Fatal(err)
	}
	got := EscapeJSON(b)
	want := `{"text":"X \u001b[2J \u009b \u007f \u202eevil\u2066 \u200f\u061c 😀\n\t"}`
	if string(got) != want {
		t.Errorf("EscapeJSON(%s) = %s, want %s", b, got, want)
	}
	checkJSON(t, text)
}

// checkJSON checks that EscapeJSON keeps the value of s exactly and leaves
// nothing for Clean to change.
func checkJSON(t *testing.T, s string) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	e := EscapeJSON(append(b, '\n'))
	var back string
	if err := json.Unmarshal(e, &back); err != nil {
		t.Fatalf("EscapeJSON(%s) = %s, not JSON: %v", b, e, err)
	}
	if want := string([]rune(s)); back != want { // each bad byte is U+FFFD
		t.Fatalf("EscapeJSON(%s) decodes to %q, want %q", b, back, want)
	}
	if Clean(string(e)) != string(e) {
		t.Fatalf("EscapeJSON(%s) = %q, which Clean changes", b, e)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"plain", "X \x1b[2J\x1b]0;pwned\a", "\u202eevil", "\u009b", "\xff\xc3", "a\nb\tc", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q, not UTF-8", s, c)
		}
		for _, r := range c {
			if Neutralised(r) {
				t.Fatalf("Clean(%q) = %q, which holds %U", s, c, r)
			}
		}
		if Clean(c) != c {
			t.Fatalf("Clean(Clean(%q)) = %q, want %q", s, Clean(c), c)
		}
		if strings.Count(c, "\n") != strings.Count(s, "\n") || strings.Count(c, "\t") != strings.Count(s, "\t") {
			t.Fatalf("Clean(%q) = %q changed the newlines or tabs", s, c)
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, Neutralised) && c != s {
			t.Fatalf("Clean(%q) = %q, want it unchanged", s, c)
		}
		checkJSON(t, s)
	})
}
