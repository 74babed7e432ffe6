// Package fsutil owns the file-system operations whose details differ
// between operating systems, for the whole module: advisory locks that
// serialise processes sharing a home directory ([Lock], [TryLock],
// [TryLockFile]),
// and atomic, durable replacement of a file ([WriteFileAtomic]). Nothing
// else in Parley calls flock, LockFileEx or renames a temporary file over
// another one by hand.
//
// fsutil knows files only: not what is in them nor who uses them.
package fsutil

import (
	"fmt"
	"os"
)

// TryLock takes an exclusive advisory lock on the open file f without
// waiting. It reports false, and no error, if another open file holds the
// lock, also one opened by this process: locks belong to open files (flock
// on unix, LockFileEx on Windows), not to processes. The lock lasts until
// [Unlock], or until f is closed or its process exits, whichever is first.
// On systems with neither mechanism it fails with errors.ErrUnsupported.
func TryLock(f *os.File) (bool, error) {
	ok, err := tryLock(f)
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return ok, nil
}

// Lock takes an exclusive advisory lock on the open file f, waiting for
// it. Like [TryLock]'s, the lock belongs to the open file.
func Lock(f *os.File) error {
	if err := lock(f); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// Unlock releases a lock taken by [TryLock] or [Lock].
func Unlock(f *os.File) error {
	if err := unlock(f); err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}

// TryLockFile opens path, creating it with mode 0600 if needed, and takes
// its lock with [TryLock]. If another open file holds the lock it reports
// false and keeps nothing open. Otherwise unlock releases the lock and
// closes the file.
func TryLockFile(path string) (unlock func() error, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	ok, err = TryLock(f)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	return func() error {
		// Closing the file releases the lock too; unlocking first says so
		// if it fails.
		uerr := Unlock(f)
		if cerr := f.Close(); uerr == nil {
			uerr = cerr
		}
		return uerr
	}, true, nil
}
