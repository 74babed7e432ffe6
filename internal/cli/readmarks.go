package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/parley-chat/parley/internal/fsutil"
)

// fileReadMarks keeps how far the user has read each room (an etcd
// revision per room) in one small JSON file in the user's directory,
// replaced atomically on each change. A missing or unreadable file means
// nothing was read yet: unread counts then start afresh, nothing else.
type fileReadMarks struct {
	path string
	mu   sync.Mutex // guards m and the file
	m    map[string]int64
}

func openReadMarks(userDir string) *fileReadMarks {
	r := &fileReadMarks{path: filepath.Join(userDir, "read.json"), m: make(map[string]int64)}
	if b, err := os.ReadFile(r.path); err == nil {
		var m map[string]int64
		if json.Unmarshal(b, &m) == nil {
			for room, rev := range m {
				if rev > 0 {
					r.m[room] = rev
				}
			}
		}
	}
	return r
}

func (r *fileReadMarks) ReadMark(room string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[room]
}

func (r *fileReadMarks) SetReadMark(room string, rev int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rev <= r.m[room] {
		return nil
	}
	r.m[room] = rev
	b, err := json.Marshal(r.m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("save read marks: %w", err)
	}
	if err := fsutil.WriteFileAtomic(r.path, b, 0o600); err != nil {
		return fmt.Errorf("save read marks: %w", err)
	}
	return nil
}
