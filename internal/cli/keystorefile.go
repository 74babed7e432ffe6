package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// keystoreModeError is a keystore file that users other than its owner may
// read or write. Like ssh with such a private key, parley refuses to use
// it: the keys inside may already be known to others.
type keystoreModeError struct {
	path string
	mode fs.FileMode
}

func (e *keystoreModeError) Error() string {
	return fmt.Sprintf("keystore %s is open to other users (mode %04o)", e.path, e.mode.Perm())
}

func (e *keystoreModeError) hint() string {
	return "make it yours alone with: chmod 600 " + e.path
}

// readKeystore reads the keystore at path. On unix it fails with a
// *keystoreModeError if the group or others have any access to the file
// (mode & 0o077 != 0); Windows has no such mode bits and is not checked.
// The mode is checked on the open file, so it is the file that is read.
func readKeystore(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if runtime.GOOS != "windows" {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, &keystoreModeError{path: path, mode: fi.Mode()}
		}
	}
	return io.ReadAll(f)
}
