package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/fsutil"
)

// roomFile names a room's file in a directory of the home: a hash, so
// that any room name makes a valid file name on every system.
func roomFile(dir, room string) string {
	h := sha256.Sum256([]byte(room))
	return filepath.Join(dir, hex.EncodeToString(h[:12]))
}

// fileRoomPins keeps each room's verified state in the home, one JSON file
// per room under rooms/, replaced atomically.
type fileRoomPins struct{ dir string }

func newFileRoomPins(userDir string) *fileRoomPins {
	return &fileRoomPins{dir: filepath.Join(userDir, "rooms")}
}

func (p *fileRoomPins) LoadRoom(room string) ([]byte, error) {
	b, err := os.ReadFile(roomFile(p.dir, room) + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (p *fileRoomPins) SaveRoom(room string, state []byte) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(roomFile(p.dir, room)+".json", state, 0o600)
}

// fileHeads keeps my chain head per room in the home, one small file per
// room under chains/, read and written under an exclusive lock of the file
// (and, within the process, a mutex): two processes sending as me take
// turns, so no sequence number is used twice. Each room's file stays open
// once used, so a send costs a lock, a read and a write of 54 bytes.
type fileHeads struct {
	dir string

	mu    sync.Mutex // guards rooms
	rooms map[string]*headFile
}

type headFile struct {
	mu sync.Mutex // serialises this process's turns; the file lock, other processes'
	f  *os.File
}

func newFileHeads(userDir string) *fileHeads {
	return &fileHeads{dir: filepath.Join(userDir, "chains"), rooms: make(map[string]*headFile)}
}

func (h *fileHeads) file(room string) (*headFile, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hf := h.rooms[room]; hf != nil {
		return hf, nil
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(roomFile(h.dir, room), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	hf := &headFile{f: f}
	h.rooms[room] = hf
	return hf, nil
}

// Advance implements chat.ChainHeads.
func (h *fileHeads) Advance(room string, fn func(chat.ChainHead, bool) (chat.ChainHead, error)) error {
	hf, err := h.file(room)
	if err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if err := fsutil.Lock(hf.f); err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	defer fsutil.Unlock(hf.f)
	cur, ok, err := readHead(hf.f)
	if err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	next, err := fn(cur, ok)
	if err != nil {
		return err
	}
	// Fixed width, so a write never leaves a longer old line behind.
	line := fmt.Sprintf("%020d %s\n", next.Seq, next.Last)
	if _, err := hf.f.WriteAt([]byte(line), 0); err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	return nil
}

// Head implements chat.ChainHeads.
func (h *fileHeads) Head(room string) (chat.ChainHead, bool, error) {
	f, err := os.Open(roomFile(h.dir, room))
	if errors.Is(err, fs.ErrNotExist) {
		return chat.ChainHead{}, false, nil
	}
	if err != nil {
		return chat.ChainHead{}, false, err
	}
	defer f.Close()
	return readHead(f)
}

func readHead(f *os.File) (chat.ChainHead, bool, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 256))
	if err != nil {
		return chat.ChainHead{}, false, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return chat.ChainHead{}, false, nil
	}
	seqStr, idStr, found := strings.Cut(s, " ")
	seq, err1 := strconv.ParseUint(seqStr, 10, 64)
	id, err2 := crypto.ParseMessageID(idStr)
	if !found || err1 != nil || err2 != nil {
		return chat.ChainHead{}, false, fmt.Errorf("damaged chain head file %s", f.Name())
	}
	return chat.ChainHead{Seq: seq, Last: id}, true, nil
}
