package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

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

// PinnedRooms lists the rooms whose state the home holds, from the
// states themselves (the files are named by a hash of the room).
func (p *fileRoomPins) PinnedRooms() ([]string, error) {
	ents, err := os.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var st struct {
			Room string `json:"room"`
		}
		if json.Unmarshal(b, &st) == nil && st.Room != "" && roomFile(p.dir, st.Room)+".json" == filepath.Join(p.dir, e.Name()) {
			out = append(out, st.Room)
		}
	}
	return out, nil
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
// turns, so no sequence number is used twice.
//
// A process that sends keeps the file's lock while it goes on sending: it
// takes the lock (and reads the head) at its first send, writes each new
// head through, and lets the lock go once it has not sent for headIdle, or
// has held it for headHold, so another process of the home waits at most
// that long. A busy sender then pays one write of 54 bytes per message,
// not a lock, a read and a write.
type fileHeads struct {
	dir string

	mu    sync.Mutex // guards rooms
	rooms map[string]*headFile
}

// How long a sending process keeps a chain's file lock (see fileHeads).
const (
	headIdle = 20 * time.Millisecond
	headHold = 250 * time.Millisecond
)

type headFile struct {
	f *os.File

	mu     sync.Mutex // guards the fields below; serialises this process's turns
	locked bool       // this process holds the file lock
	since  time.Time  // when it took it
	cur    chat.ChainHead
	ok     bool        // cur is a recorded head
	last   time.Time   // the latest turn
	timer  *time.Timer // lets the lock go once idle for headIdle
	line   [64]byte    // the head's line, written in place
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
	if hf.locked && time.Since(hf.since) > headHold {
		hf.releaseLocked() // others' turn: take it again below
	}
	if !hf.locked {
		if err := fsutil.Lock(hf.f); err != nil {
			return fmt.Errorf("chain of %q: %w", room, err)
		}
		cur, ok, err := readHead(hf.f)
		if err != nil {
			fsutil.Unlock(hf.f)
			return fmt.Errorf("chain of %q: %w", room, err)
		}
		hf.locked, hf.since, hf.cur, hf.ok = true, time.Now(), cur, ok
		hf.timer = time.AfterFunc(headIdle, hf.idle)
	}
	hf.last = time.Now()
	next, err := fn(hf.cur, hf.ok)
	if err != nil {
		return err
	}
	// Fixed width, so a write never leaves a longer old line behind.
	b := hf.line[:0]
	var num [20]byte
	seq := strconv.AppendUint(num[:0], next.Seq, 10)
	for range 20 - len(seq) {
		b = append(b, '0')
	}
	b = append(append(append(b, seq...), ' '), next.Last.String()...)
	b = append(b, '\n')
	if _, err := hf.f.WriteAt(b, 0); err != nil {
		hf.releaseLocked() // what the file holds is unknown: read it again
		return fmt.Errorf("chain of %q: %w", room, err)
	}
	hf.cur, hf.ok = next, true
	return nil
}

// idle runs on the timer: it lets the lock go once no turn came for
// headIdle, else it looks again when that much has passed since the last.
func (hf *headFile) idle() {
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if !hf.locked || hf.timer == nil {
		return
	}
	if wait := headIdle - time.Since(hf.last); wait > 0 {
		hf.timer.Reset(wait)
		return
	}
	hf.releaseLocked()
}

// releaseLocked lets the file lock go; hf.mu is held.
func (hf *headFile) releaseLocked() {
	fsutil.Unlock(hf.f)
	hf.locked = false
	if hf.timer != nil {
		hf.timer.Stop()
		hf.timer = nil
	}
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
