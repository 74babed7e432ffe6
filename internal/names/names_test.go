package names

import (
	"errors"
	"strings"
	"testing"
)

func TestUser(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
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
		{strings.Repeat("x", 32), strings.Repeat("x", 32), true},
		{strings.Repeat("x", 33), "", false},
		{"\xff", "", false},
		{strings.Repeat("李", 21), strings.Repeat("李", 21), true},
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
		got, err := User(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("User(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("User(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestRoomKeepsCase(t *testing.T) {
	got, err := Room("General")
	if err != nil || got != "General" {
		t.Fatalf("Room(General) = %q, %v", got, err)
	}
}

func TestRoomConfusables(t *testing.T) {
	if got, err := Room("Ｇｅｎｅｒａｌ"); err != nil || got != "General" {
		t.Errorf("Room(full width) = %q, %v; want General", got, err)
	}
	_, err := Room("gеneral") // a Cyrillic "е"
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Cyrillic") {
		t.Errorf("Room(mixed scripts) = %v; want an error naming the scripts", err)
	}
}

func TestDirect(t *testing.T) {
	r, err := Direct("bob", "alice")
	if err != nil || r != "@alice+bob" {
		t.Fatalf("Direct(bob, alice) = %q, %v", r, err)
	}
	a, b, ok := DirectPair(r)
	if !ok || a != "alice" || b != "bob" {
		t.Fatalf("DirectPair(%q) = %q, %q, %v", r, a, b, ok)
	}
	if _, err := Direct("bob", "bob"); err == nil {
		t.Fatal("Direct(bob, bob) succeeded")
	}
	for _, bad := range []string{"@bob+alice", "@alice", "@alice+alice", "@a/b+c", "alice+bob"} {
		if _, _, ok := DirectPair(bad); ok {
			t.Errorf("DirectPair(%q) accepted", bad)
		}
	}
	if _, err := AnyRoom("@alice+bob"); err != nil {
		t.Errorf("AnyRoom(direct) = %v", err)
	}
	if _, err := AnyRoom("@bob+alice"); err == nil {
		t.Errorf("AnyRoom(unsorted direct) accepted")
	}
}

// FuzzNames checks, for any input, that canonical forms are fixed points,
// never contain a key separator, and that direct room names round-trip.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"alice", "Bob", "ｆｕｌｌ", "pаypal", "@alice+bob", "a/b", "", "général"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := User(s); err == nil {
			if again, err := User(u); err != nil || again != u {
				t.Fatalf("User(%q) = %q, but User(%q) = %q, %v", s, u, u, again, err)
			}
			if strings.ContainsAny(u, "/@+") {
				t.Fatalf("user name %q holds a separator", u)
			}
			if d, err := Direct(u, u+"x"); err == nil {
				a, b, ok := DirectPair(d)
				if !ok || (a != u && b != u) {
					t.Fatalf("DirectPair(%q) = %q, %q, %v", d, a, b, ok)
				}
			}
		}
		if r, err := Room(s); err == nil {
			if again, err := Room(r); err != nil || again != r {
				t.Fatalf("Room(%q) = %q, but Room(%q) = %q, %v", s, r, r, again, err)
			}
			if strings.ContainsAny(r, "/@+") {
				t.Fatalf("room name %q holds a separator", r)
			}
		}
		if r, err := AnyRoom(s); err == nil {
			if again, err := AnyRoom(r); err != nil || again != r {
				t.Fatalf("AnyRoom(%q) = %q, but AnyRoom(%q) = %q, %v", s, r, r, again, err)
			}
		}
	})
}
