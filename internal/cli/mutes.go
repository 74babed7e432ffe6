package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-chat/parley/internal/fsutil"
	"github.com/parley-chat/parley/internal/names"
)

// The rooms a user muted in the full-screen chat (/mute) are kept in
// their home, one room name a line, in users/USER/muted. Local state: it
// never reaches the cluster.

func (a *App) mutesPath(user string) (string, error) {
	u, err := names.ParseUser(user)
	if err != nil {
		return "", err
	}
	return filepath.Join(a.userDir(u.String()), "muted"), nil
}

// MutedRooms returns the rooms user muted.
func (a *App) MutedRooms(user string) ([]string, error) {
	path, err := a.mutesPath(user)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rooms []string
	for _, l := range strings.Split(string(b), "\n") {
		if r, err := names.ParseRoom(strings.TrimSpace(l)); err == nil {
			rooms = append(rooms, r.String())
		}
	}
	return rooms, nil
}

// SetMutedRooms records the rooms user muted.
func (a *App) SetMutedRooms(user string, rooms []string) error {
	path, err := a.mutesPath(user)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range rooms {
		b.WriteString(r + "\n")
	}
	return fsutil.WriteFileAtomic(path, []byte(b.String()), 0o600)
}

// envTrue reads a yes/no environment variable: set to anything but "",
// "0", "false" or "no" is yes.
func envTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false
	}
	return true
}
