package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
)

const (
	fpA = "parley1-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"
	fpB = "parley1-bbbb-bbbb-bbbb-bbbb-bbbb-bbbb-bbbb-bbbb"
	fpC = "parley1-cccc-cccc-cccc-cccc-cccc-cccc-cccc-cccc"
)

func mustOpenPins(t *testing.T, dir string) *filePins {
	t.Helper()
	p, err := openPins(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Pins and marks survive a reopen; a mark counts only for the pinned key;
// Repin replaces the pin and drops the mark.
func TestFilePins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alice")
	p := mustOpenPins(t, dir)
	if got := p.Pinned("bob"); got != "" {
		t.Fatalf("new: Pinned(bob) = %q", got)
	}
	for _, u := range []string{"bob", "carol"} {
		if err := p.Pin(u, fpA); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Pin("bob", fpA); err != nil {
		t.Fatalf("pinning the same key again: %v", err)
	}
	var kc *chat.KeyChangedError
	if err := p.Pin("bob", fpB); !errors.As(err, &kc) || kc.Pinned != fpA || kc.Stored != fpB {
		t.Fatalf("Pin(bob, another key) = %v, want a KeyChangedError", err)
	}
	if err := p.SetVerified("bob", fpA); err != nil {
		t.Fatal(err)
	}

	q := mustOpenPins(t, dir)
	if q.Pinned("bob") != fpA || q.Pinned("carol") != fpA || q.Verified("bob") != fpA || q.Verified("carol") != "" {
		t.Fatalf("reopened: pins %v, marks %v", q.pins, q.verified)
	}
	if got := q.known(); len(got) != 2 || got[0] != (knownUser{User: "bob", Fingerprint: fpA, Verified: true}) || got[1] != (knownUser{User: "carol", Fingerprint: fpA}) {
		t.Fatalf("known() = %+v", got)
	}

	if err := q.Repin("bob", fpC, fpB); err == nil {
		t.Fatal("Repin from a key that is not the pin succeeded")
	}
	if err := q.Repin("bob", fpA, fpB); err != nil {
		t.Fatal(err)
	}
	r := mustOpenPins(t, dir)
	if r.Pinned("bob") != fpB || r.Verified("bob") != "" || r.Pinned("carol") != fpA {
		t.Fatalf("after Repin: pins %v, marks %v", r.pins, r.verified)
	}
	// A mark for an older key does not count.
	if err := r.SetVerified("carol", fpC); err != nil {
		t.Fatal(err)
	}
	for _, k := range r.known() {
		if k.Verified {
			t.Errorf("%s shows verified with a mark for another key", k.User)
		}
	}
	if err := r.SetVerified("carol", ""); err != nil {
		t.Fatal(err)
	}
	if mustOpenPins(t, dir).Verified("carol") != "" {
		t.Error("a cleared mark came back")
	}
	for _, name := range []string{pinsFile, verifiedFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", name, fi, err)
		}
	}
}

// Two processes of one home: a pin one appends after the other replaced a
// pin is not lost, and the replacement is not undone.
func TestFilePinsTwoProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alice")
	a := mustOpenPins(t, dir)
	if err := a.Pin("bob", fpA); err != nil {
		t.Fatal(err)
	}
	b := mustOpenPins(t, dir)
	if err := b.Repin("bob", fpA, fpB); err != nil {
		t.Fatal(err)
	}
	// a still holds the old view in memory; its next write reads again.
	if err := a.Pin("carol", fpC); err != nil {
		t.Fatal(err)
	}
	if err := a.Pin("bob", fpA); err == nil {
		t.Error("a pinned bob's old key again after b replaced it")
	}
	c := mustOpenPins(t, dir)
	if c.Pinned("bob") != fpB || c.Pinned("carol") != fpC {
		t.Fatalf("pins %v", c.pins)
	}
	if err := b.SetVerified("carol", fpC); err != nil {
		t.Fatal(err)
	}
	if err := a.SetVerified("bob", fpB); err != nil {
		t.Fatal(err)
	}
	if d := mustOpenPins(t, dir); d.Verified("carol") != fpC || d.Verified("bob") != fpB {
		t.Fatalf("marks %v: one process lost the other's", d.verified)
	}
}

// Lines that do not parse are ignored: a last line cut short by a crash
// costs that pin only, and the next pin starts on a line of its own.
func TestFilePinsDamagedLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alice")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	content := "bob " + fpA + "\n" +
		"\n" +
		"junk\n" +
		"eve not-a-fingerprint\n" +
		"carol " + fpB + "\n" +
		"dave " + fpC[:20] // cut short
	if err := os.WriteFile(filepath.Join(dir, pinsFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustOpenPins(t, dir)
	if len(p.pins) != 2 || p.Pinned("bob") != fpA || p.Pinned("carol") != fpB {
		t.Fatalf("pins %v", p.pins)
	}
	if err := p.Pin("dave", fpC); err != nil {
		t.Fatal(err)
	}
	q := mustOpenPins(t, dir)
	if q.Pinned("dave") != fpC {
		t.Fatalf("after a pin following a cut line: %v", q.pins)
	}
	data, _ := os.ReadFile(filepath.Join(dir, pinsFile))
	if !strings.HasSuffix(string(data), "\ndave "+fpC+"\n") {
		t.Fatalf("file ends %q", data[max(0, len(data)-80):])
	}
}

// TestPinnedRoomsListsWhatWasSaved: the home lists the rooms it pinned,
// from their states, and nothing else found in the directory.
func TestPinnedRoomsListsWhatWasSaved(t *testing.T) {
	p := newFileRoomPins(t.TempDir())
	for _, r := range []string{"general", "@alice+bob"} {
		if err := p.SaveRoom(r, []byte(`{"room":"`+r+`","n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A state copied under another room's file does not count.
	if err := os.WriteFile(filepath.Join(p.dir, "stray.json"), []byte(`{"room":"general"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := p.PinnedRooms()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"@alice+bob", "general"}; !slices.Equal(got, want) {
		t.Fatalf("PinnedRooms = %q, want %q", got, want)
	}
}
