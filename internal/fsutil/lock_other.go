//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package fsutil

import (
	"errors"
	"os"
)

func tryLock(f *os.File) (bool, error) { return false, errors.ErrUnsupported }

func unlock(f *os.File) error { return errors.ErrUnsupported }

func lock(f *os.File) error { return errors.ErrUnsupported }
