//go:build unix

package fsutil

import (
	"errors"
	"os"
	"syscall"
)

// syncDir makes the entries of dir durable. File systems that cannot sync
// a directory (EINVAL, ENOTSUP) have nothing more to do.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
