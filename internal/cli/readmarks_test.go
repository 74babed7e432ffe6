package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// Read marks survive a reopen, never go back, and a damaged file costs
// nothing but the marks.
func TestFileReadMarks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alice")
	r := openReadMarks(dir)
	if got := r.ReadMark("general"); got != 0 {
		t.Fatalf("new: mark %d", got)
	}
	for _, rev := range []int64{10, 42, 7} {
		if err := r.SetReadMark("general", rev); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetReadMark("@alice+bob", 5); err != nil {
		t.Fatal(err)
	}
	again := openReadMarks(dir)
	if got := again.ReadMark("general"); got != 42 {
		t.Fatalf("reopened: general %d, want 42", got)
	}
	if got := again.ReadMark("@alice+bob"); got != 5 {
		t.Fatalf("reopened: direct room %d, want 5", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "read.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("read.json: %v, %v; want mode 0600", fi, err)
	}

	if err := os.WriteFile(filepath.Join(dir, "read.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := openReadMarks(dir)
	if got := damaged.ReadMark("general"); got != 0 {
		t.Fatalf("damaged file: mark %d", got)
	}
	if err := damaged.SetReadMark("general", 50); err != nil {
		t.Fatalf("writing over a damaged file: %v", err)
	}
	if got := openReadMarks(dir).ReadMark("general"); got != 50 {
		t.Fatalf("after rewriting: %d", got)
	}
}
