package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// fileVerified remembers digests of verified envelopes, one append-only
// file of 16-byte digests per room, loaded on first use.
type fileVerified struct {
	dir string

	mu    sync.Mutex // guards rooms and the files
	rooms map[string]map[[16]byte]struct{}
}

func newFileVerified(userDir string) *fileVerified {
	return &fileVerified{dir: filepath.Join(userDir, "verified"), rooms: make(map[string]map[[16]byte]struct{})}
}

func (f *fileVerified) path(room string) string {
	h := sha256.Sum256([]byte(room))
	return filepath.Join(f.dir, hex.EncodeToString(h[:12]))
}

// loadLocked returns room's set, reading its file once.
func (f *fileVerified) loadLocked(room string) map[[16]byte]struct{} {
	set, ok := f.rooms[room]
	if ok {
		return set
	}
	set = make(map[[16]byte]struct{})
	b, err := os.ReadFile(f.path(room))
	if err == nil {
		for i := 0; i+16 <= len(b); i += 16 {
			set[[16]byte(b[i:i+16])] = struct{}{}
		}
	}
	f.rooms[room] = set
	return set
}

func (f *fileVerified) Seen(room string, d [16]byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.loadLocked(room)[d]
	return ok
}

func (f *fileVerified) Add(room string, ds [][16]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.loadLocked(room)
	buf := make([]byte, 0, 16*len(ds))
	for _, d := range ds {
		if _, ok := set[d]; ok {
			continue
		}
		set[d] = struct{}{}
		buf = append(buf, d[:]...)
	}
	if len(buf) == 0 {
		return nil
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return err
	}
	file, err := os.OpenFile(f.path(room), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("verified cache: %w", err)
	}
	_, err = file.Write(buf)
	return errors.Join(err, file.Close())
}
