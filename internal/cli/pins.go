package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/fsutil"
)

// filePins is a user's trust in other users' keys, in their directory of
// the home (a chat.Trust):
//
//   - known_users: the fingerprint pinned for each user, one "user
//     fingerprint" line each, like ssh's known_hosts;
//   - verified_users: the same lines for the keys the user compared out
//     of band (parley verify --mark).
//
// A new pin is appended to known_users; a replaced pin (parley trust
// --accept) and every change of verified_users rewrite the file atomically.
// Every write holds the lock of known_users.lock and first reads again what
// another process of the home wrote, so none is lost. A line that does not
// parse, such as a last line cut short by a crash, is ignored: a lost pin
// is taken again from the next commit that admits the user.
type filePins struct {
	dir string // the user's directory in the home

	mu       sync.Mutex        // guards the fields below and the files
	pins     map[string]string // user -> fingerprint pinned
	verified map[string]string // user -> fingerprint marked verified
	stamp    fs.FileInfo       // known_users as last read or written; nil if absent
}

var _ chat.Trust = (*filePins)(nil)

const (
	pinsFile     = "known_users"
	verifiedFile = "verified_users"
	pinsLockFile = "known_users.lock"
)

func openPins(dir string) (*filePins, error) {
	p := &filePins{dir: dir}
	if err := p.reloadLocked(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *filePins) path(name string) string { return filepath.Join(p.dir, name) }

// reloadLocked reads both files.
func (p *filePins) reloadLocked() error {
	pins, st, err := readPinLines(p.path(pinsFile))
	if err != nil {
		return fmt.Errorf("read known users: %w", err)
	}
	verified, _, err := readPinLines(p.path(verifiedFile))
	if err != nil {
		return fmt.Errorf("read verified users: %w", err)
	}
	p.pins, p.verified, p.stamp = pins, verified, st
	return nil
}

// readPinLines reads a file of "user fingerprint" lines. A missing file is
// empty. Later lines win over earlier ones.
func readPinLines(path string) (map[string]string, fs.FileInfo, error) {
	m := make(map[string]string)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[:len(lines)-1] { // the part after the last newline is cut short
		user, fp, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && user != "" && crypto.CheckFingerprint(fp) == nil {
			m[user] = fp
		}
	}
	return m, st, nil
}

// lock takes the home's lock of these files and reads them again if
// another process changed known_users since this one last did. (A change
// of verified_users alone is read on every write too.)
func (p *filePins) lock() (unlock func(), err error) {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p.path(pinsLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := fsutil.Lock(f); err != nil {
		f.Close()
		return nil, err
	}
	unlock = func() { fsutil.Unlock(f); f.Close() }
	st, err := os.Stat(p.path(pinsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		unlock()
		return nil, err
	}
	if !sameStamp(p.stamp, st) {
		if err := p.reloadLocked(); err != nil {
			unlock()
			return nil, err
		}
		return unlock, nil
	}
	verified, _, err := readPinLines(p.path(verifiedFile))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("read verified users: %w", err)
	}
	p.verified = verified
	return unlock, nil
}

func sameStamp(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (p *filePins) Pinned(user string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[user]
}

// Pin appends a pin for user. If another process of the home pinned
// another key for user meanwhile, that one stays and Pin fails.
func (p *filePins) Pin(user, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	unlock, err := p.lock()
	if err != nil {
		return fmt.Errorf("pin key of %s: %w", user, err)
	}
	defer unlock()
	switch old := p.pins[user]; old {
	case fp:
		return nil
	case "":
	default:
		return &chat.KeyChangedError{User: user, Pinned: old, Stored: fp}
	}
	path := p.path(pinsFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pin key of %s: %w", user, err)
	}
	line := fmt.Sprintf("%s %s\n", user, fp)
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		// A line cut short by a crash must not swallow this one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pin key of %s: %w", user, err)
	}
	p.pins[user] = fp
	p.stamp, _ = os.Stat(path)
	return nil
}

func (p *filePins) Verified(user string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified[user]
}

func (p *filePins) SetVerified(user, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	next := maps.Clone(p.verified)
	if fp == "" {
		delete(next, user)
	} else {
		next[user] = fp
	}
	if err := writePinLines(p.path(verifiedFile), next); err != nil {
		return err
	}
	p.verified = next
	return nil
}

// Repin replaces user's pin, if it is still old, and drops user's verified
// mark: both files are rewritten, verified_users first, so a crash between
// the two leaves the old pin without its mark, never the new pin with it.
func (p *filePins) Repin(user, old, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if cur := p.pins[user]; cur != old {
		return fmt.Errorf("the key pinned for %s is now %s, not %s", user, cur, old)
	}
	if _, ok := p.verified[user]; ok {
		next := maps.Clone(p.verified)
		delete(next, user)
		if err := writePinLines(p.path(verifiedFile), next); err != nil {
			return err
		}
		p.verified = next
	}
	next := maps.Clone(p.pins)
	next[user] = fp
	path := p.path(pinsFile)
	if err := writePinLines(path, next); err != nil {
		return err
	}
	p.pins = next
	p.stamp, _ = os.Stat(path)
	return nil
}

// knownUser is one line of parley users.
type knownUser struct {
	User        string `json:"user"`
	Fingerprint string `json:"fingerprint"`
	Verified    bool   `json:"verified"`
	Me          bool   `json:"me,omitempty"`
}

// known lists the pinned users by name. A user is verified if the mark
// names the pinned key.
func (p *filePins) known() []knownUser {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]knownUser, 0, len(p.pins))
	for u, fp := range p.pins {
		out = append(out, knownUser{User: u, Fingerprint: fp, Verified: p.verified[u] == fp})
	}
	slices.SortFunc(out, func(a, b knownUser) int { return strings.Compare(a.User, b.User) })
	return out
}

func writePinLines(path string, m map[string]string) error {
	users := make([]string, 0, len(m))
	for u := range m {
		users = append(users, u)
	}
	slices.Sort(users)
	var b bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&b, "%s %s\n", u, m[u])
	}
	return fsutil.WriteFileAtomic(path, b.Bytes(), 0o600)
}
