package names

import (
	"errors"
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in   string
		want User
		ok   bool
	}{
		{"alice", "alice", true},
		{"Bob", "bob", true},
		{"zoë", "zoë", true},
		{"zoe\u0308", "zoë", true}, // NFD input folds to NFC
		{"李雷", "李雷", true},
		{"a.b-c_d", "a.b-c_d", true},
		{"9lives", "9lives", true},
		{"", "", false},
		{"-x", "", false},
		{"a/b", "", false},
		{"a b", "", false},
		{"a\nb", "", false},
		{"a\x00", "", false},
		{"a+b", "", false},
		{"@a", "", false},
		{"😀", "", false},
		{strings.Repeat("x", 32), User(strings.Repeat("x", 32)), true},
		{strings.Repeat("x", 33), "", false},
		{"\xff", "", false},
		{strings.Repeat("李", 21), User(strings.Repeat("李", 21)), true},
		{strings.Repeat("李", 22), "", false}, // 66 bytes
		{"ａｌｉｃｅ", "alice", true},             // full width folds
		{"pаypal", "", false},                // a Cyrillic "а" among Latin letters
		{"Ωmega", "", false},                 // Greek and Latin
		{"alice١", "", false},                // an Arabic-Indic digit
		{"αβγ", "αβγ", true},                 // one script
		{"иван", "иван", true},               // one script
		{"alice李", "alice李", true},           // Latin with Han
		{"日本語テスト", "日本語テスト", true},           // Han with Katakana
		{"한국어abc", "한국어abc", true},           // Hangul with Latin
		{"ﬁsh", "", false},                   // a ligature: not a letter of its own
	}
	for _, tt := range tests {
		got, err := ParseUser(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseUser(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUser(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestRoomKeepsCase(t *testing.T) {
	got, err := ParseGroupRoom("General")
	if err != nil || got != "General" {
		t.Fatalf("ParseGroupRoom(General) = %q, %v", got, err)
	}
}

func TestRoomConfusables(t *testing.T) {
	if got, err := ParseGroupRoom("Ｇｅｎｅｒａｌ"); err != nil || got != "General" {
		t.Errorf("ParseGroupRoom(full width) = %q, %v; want General", got, err)
	}
	_, err := ParseGroupRoom("gеneral") // a Cyrillic "е"
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Cyrillic") {
		t.Errorf("ParseGroupRoom(mixed scripts) = %v; want an error naming the scripts", err)
	}
}

func TestDirect(t *testing.T) {
	r, err := DirectRoom("bob", "alice")
	if err != nil || r != "@alice+bob" {
		t.Fatalf("DirectRoom(bob, alice) = %q, %v", r, err)
	}
	a, b, ok := r.Pair()
	if !ok || a != "alice" || b != "bob" || !r.IsDirect() {
		t.Fatalf("%q.Pair() = %q, %q, %v", r, a, b, ok)
	}
	if _, err := DirectRoom("bob", "bob"); err == nil {
		t.Fatal("DirectRoom(bob, bob) succeeded")
	}
	if _, err := DirectRoom("Bob", "alice"); err == nil {
		t.Fatal("DirectRoom(Bob, alice) accepted a name not in canonical form")
	}
	for _, bad := range []Room{"@bob+alice", "@alice", "@alice+alice", "@a/b+c", "alice+bob", "@Alice+bob", "general"} {
		if _, _, ok := bad.Pair(); ok || bad.IsDirect() {
			t.Errorf("%q.Pair() accepted", bad)
		}
	}
	if _, err := ParseRoom("@alice+bob"); err != nil {
		t.Errorf("ParseRoom(direct) = %v", err)
	}
	if _, err := ParseRoom("@bob+alice"); err == nil {
		t.Errorf("ParseRoom(unsorted direct) accepted")
	}
	if _, err := ParseGroupRoom("@alice+bob"); err == nil {
		t.Errorf("ParseGroupRoom(direct) accepted")
	}
}

func TestParseRoomArg(t *testing.T) {
	tests := []struct {
		arg  string
		want Room
		ok   bool
	}{
		{"general", "general", true},
		{"Ｇｅｎｅｒａｌ", "General", true},
		{"@bob", "@alice+bob", true},
		{"@Bob", "@alice+bob", true},
		{"@carol", "@alice+carol", true},
		{"@alice+bob", "@alice+bob", true}, // as listed
		{"@bob+carol", "@bob+carol", true}, // someone else's, as listed
		{"@alice", "", false},              // with myself
		{"@", "", false},
		{"@b/c", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseRoomArg("alice", tt.arg)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRoomArg(alice, %q) = %q, %v; want %q, ok=%v", tt.arg, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRoomArg(alice, %q) error %v does not wrap ErrInvalid", tt.arg, err)
		}
	}
}

// FuzzNames checks, for any input, that canonical forms are fixed points,
// never contain a key separator, and that direct room names round-trip.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"alice", "Bob", "ｆｕｌｌ", "pаypal", "@alice+bob", "a/b", "", "général", "@bob", "@Alice+bob"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := ParseUser(s); err == nil {
			if again, err := ParseUser(string(u)); err != nil || again != u {
				t.Fatalf("ParseUser(%q) = %q, but ParseUser(%q) = %q, %v", s, u, u, again, err)
			}
			if strings.ContainsAny(string(u), "/@+") {
				t.Fatalf("user name %q holds a separator", u)
			}
			if d, err := DirectRoom(u, u+"x"); err == nil {
				a, b, ok := d.Pair()
				if !ok || (a != u && b != u) {
					t.Fatalf("%q.Pair() = %q, %q, %v", d, a, b, ok)
				}
				if again, err := ParseRoom(string(d)); err != nil || again != d {
					t.Fatalf("ParseRoom(%q) = %q, %v", d, again, err)
				}
			}
		}
		if r, err := ParseGroupRoom(s); err == nil {
			if again, err := ParseGroupRoom(string(r)); err != nil || again != r {
				t.Fatalf("ParseGroupRoom(%q) = %q, but ParseGroupRoom(%q) = %q, %v", s, r, r, again, err)
			}
			if strings.ContainsAny(string(r), "/@+") || r.IsDirect() {
				t.Fatalf("room name %q holds a separator", r)
			}
		}
		if r, err := ParseRoom(s); err == nil {
			if again, err := ParseRoom(string(r)); err != nil || again != r {
				t.Fatalf("ParseRoom(%q) = %q, but ParseRoom(%q) = %q, %v", s, r, r, again, err)
			}
			if strings.Contains(string(r), "/") {
				t.Fatalf("room name %q holds a key separator", r)
			}
		}
		if r, err := ParseRoomArg("me", s); err == nil {
			if again, err := ParseRoom(string(r)); err != nil || again != r {
				t.Fatalf("ParseRoomArg(me, %q) = %q, but ParseRoom(%q) = %q, %v", s, r, r, again, err)
			}
		}
	})
}
