//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package node

import (
	"errors"
	"fmt"
	"os"
)

func tryLock(f *os.File) (bool, error) {
	return false, fmt.Errorf("node: lock %s: %w", f.Name(), errors.ErrUnsupported)
}

func unlock(f *os.File) error {
	return fmt.Errorf("node: unlock %s: %w", f.Name(), errors.ErrUnsupported)
}
