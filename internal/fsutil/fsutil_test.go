package fsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Locks belong to open files: two opens of one file in one process
// conflict, which the shared local member's takeover relies on.
func TestTryLockConflictsWithinProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open(), open()
	if ok, err := TryLock(a); !ok || err != nil {
		t.Fatalf("first lock: %v, %v", ok, err)
	}
	if ok, err := TryLock(b); ok || err != nil {
		t.Fatalf("second lock while the first is held: %v, %v; want false, nil", ok, err)
	}
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if ok, err := TryLock(b); !ok || err != nil {
		t.Fatalf("second lock after unlock: %v, %v", ok, err)
	}
	a.Close()
	if ok, _ := TryLock(open()); ok {
		t.Fatal("third file got the lock held by the second")
	}
	b.Close() // closing the file releases its lock
	if ok, err := TryLock(open()); !ok || err != nil {
		t.Fatalf("lock after closing the holder: %v, %v", ok, err)
	}
}

func TestTryLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.lock")
	unlock, ok, err := TryLockFile(path)
	if !ok || err != nil {
		t.Fatalf("TryLockFile = %v, %v; want true, nil", ok, err)
	}
	if u, ok, err := TryLockFile(path); ok || err != nil || u != nil {
		t.Fatalf("TryLockFile while held = %v, %v; want false, nil and no unlock", ok, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, ok, err = TryLockFile(path)
	if !ok || err != nil {
		t.Fatalf("TryLockFile after unlock = %v, %v; want true, nil", ok, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := TryLockFile(filepath.Join(path, "not-a-dir", "lock")); err == nil {
		t.Fatal("TryLockFile in a missing directory did not fail")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore")
	for _, data := range [][]byte{[]byte("first version"), []byte("second"), {}} {
		if err := WriteFileAtomic(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after WriteFileAtomic(%q): read %q, %v", data, got, err)
		}
	}
	if runtime.GOOS != "windows" {
		// Not subject to the umask: the mode is what was asked.
		for _, perm := range []os.FileMode{0o600, 0o644} {
			if err := WriteFileAtomic(path, nil, perm); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != perm {
				t.Fatalf("WriteFileAtomic(perm %04o): mode %v, %v", perm, fi.Mode(), err)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("directory holds %v (%v); want the file alone, no temporary files", ents, err)
	}

	// A failed write leaves the file as it was and nothing else.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFileAtomic over a directory did not fail")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir)); len(ents) != 2 {
		t.Fatalf("after a failed write the directory holds %v", ents)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFileAtomic in a missing directory did not fail")
	}
}
