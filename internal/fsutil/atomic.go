package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with data, with permissions
// perm (not masked by the umask), so that readers and a crash see either
// the old content or the new one, never a part: it writes a temporary file
// in the same directory, syncs it to disk, renames it over path and, where
// the system allows, syncs the directory so the rename is durable too.
// On failure path is untouched and the temporary file is removed; an error
// from the final directory sync comes after the new file is in place.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := writeTemp(dir, path, data, perm); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeTemp does the work of WriteFileAtomic up to the rename.
func writeTemp(dir, path string, data []byte, perm fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
