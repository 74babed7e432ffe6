package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// filePins keeps the fingerprints of users' keys first seen from this home,
// one "user fingerprint" line each, like ssh's known_hosts.
type filePins struct {
	path string
	mu   sync.Mutex // guards m and the file
	m    map[string]string
}

func openPins(path string) (*filePins, error) {
	p := &filePins{path: path, m: make(map[string]string)}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known users: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		user, fp, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok {
			p.m[user] = fp
		}
	}
	return p, sc.Err()
}

func (p *filePins) Pinned(user string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[user]
}

func (p *filePins) Pin(user, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[user] = fp
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pin key of %s: %w", user, err)
	}
	_, err = fmt.Fprintf(f, "%s %s\n", user, fp)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
