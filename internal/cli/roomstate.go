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
// room under chains/, each read and written under an exclusive lock of the
// file itself: two processes sending as me take turns, so no sequence
// number is used twice.
type fileHeads struct{ dir string }

func newFileHeads(userDir string) *fileHeads {
	return &fileHeads{dir: filepath.Join(userDir, "chains")}
}

func (h *fileHeads) open(room string) (*os.File, error) {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(roomFile(h.dir, room), os.O_RDWR|os.O_CREATE, 0o600)
}

// Advance implements chat.ChainHeads.
func (h *fileHeads) Advance(room string, fn func(chat.ChainHead, bool) (chat.ChainHead, error)) error {
	f, err := h.open(room)
	if err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	defer f.Close()
	if err := fsutil.Lock(f); err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	defer fsutil.Unlock(f)
	cur, ok, err := readHead(f)
	if err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	next, err := fn(cur, ok)
	if err != nil {
		return err
	}
	line := []byte(strconv.FormatUint(next.Seq, 10) + " " + next.Last.String() + "\n")
	if _, err := f.WriteAt(line, 0); err != nil {
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	return f.Truncate(int64(len(line)))
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
