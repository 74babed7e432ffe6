package crypto

import (
	"errors"
	"strings"
	"testing"
)

func TestLinkCodeRoundTrip(t *testing.T) {
	c := NewLinkCode()
	s := c.String()
	if len(s) != 19 || strings.Count(s, "-") != 3 {
		t.Fatalf("code %q is not XXXX-XXXX-XXXX-XXXX", s)
	}
	for _, in := range []string{s, strings.ToLower(s), strings.ReplaceAll(s, "-", ""), " " + strings.ReplaceAll(s, "-", " ") + " "} {
		got, err := ParseLinkCode(in)
		if err != nil || got != c {
			t.Errorf("ParseLinkCode(%q) = %v, %v; want %v", in, got, err, c)
		}
	}
	for _, bad := range []string{"", "ABCD", s + "A", strings.Replace(s, s[:1], "0", 1), "!!!!-!!!!-!!!!-!!!!"} {
		if _, err := ParseLinkCode(bad); !errors.Is(err, ErrBadLinkCode) {
			t.Errorf("ParseLinkCode(%q) = %v, want ErrBadLinkCode", bad, err)
		}
	}
}

func TestLinkCodeMACBindsCodeLabelAndParts(t *testing.T) {
	c, d := NewLinkCode(), NewLinkCode()
	mac := c.MAC("request", []byte("a"), []byte("bc"))
	if !c.CheckMAC(mac, "request", []byte("a"), []byte("bc")) {
		t.Fatal("a MAC does not check under its own code")
	}
	for name, ok := range map[string]bool{
		"other code":  d.CheckMAC(mac, "request", []byte("a"), []byte("bc")),
		"other label": c.CheckMAC(mac, "answer", []byte("a"), []byte("bc")),
		"parts moved": c.CheckMAC(mac, "request", []byte("ab"), []byte("c")),
		"other part":  c.CheckMAC(mac, "request", []byte("a"), []byte("bd")),
	} {
		if ok {
			t.Errorf("MAC checks with %s", name)
		}
	}
	if c.ID() == d.ID() || len(c.ID()) != 16 {
		t.Errorf("ids %q and %q", c.ID(), d.ID())
	}
}
