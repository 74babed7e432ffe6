//go:build !unix

package fsutil

// syncDir does nothing where a directory cannot be opened to be synced
// (Windows among them): the rename is then as durable as the file system
// makes it by itself.
func syncDir(dir string) error { return nil }
