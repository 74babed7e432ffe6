package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/fsutil"
)

// hostedName marks a home whose member belongs to a cluster of machines:
// [Local] then refuses to run it as the shared loopback member.
const hostedName = "hosted"

// ErrHosted is returned by [Local] for a home whose member was moved into
// a cluster of machines (by [ClaimLocal] and [Claim.MarkHosted]).
var ErrHosted = errors.New("this home's etcd member belongs to a cluster of machines")

// ErrLocalBusy is returned by [ClaimLocal] while another process runs the
// home's member.
var ErrLocalBusy = errors.New("another parley process of this home runs its etcd member")

// Claim is the exclusive right, for one process, to run the etcd member
// whose data is in a home: the member [Local] shares, or the member of a
// cluster of machines that replaced it. It holds the same lock [Local]
// takes, so no other process of the home starts the member meanwhile.
type Claim struct {
	dir  string
	lock *os.File
}

// ClaimLocal takes the lock of home's member (creating <home>/etcd, mode
// 0700, if needed). It fails with ErrLocalBusy if another process holds
// it: a parley process hosting the shared member, or another process
// running the cluster member. The lock is released by Close or when the
// process exits.
func ClaimLocal(home string) (*Claim, error) {
	dir := filepath.Join(home, localDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: claim the member of %s: %w", home, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, localLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: claim the member of %s: %w", home, err)
	}
	ok, err := fsutil.TryLock(lf)
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("node: claim the member of %s: %w", home, err)
	}
	if !ok {
		lf.Close()
		return nil, fmt.Errorf("node: claim the member of %s: %w", home, ErrLocalBusy)
	}
	return &Claim{dir: dir, lock: lf}, nil
}

// DataDir is the member's data directory: the one [Local] uses, so that a
// home's chat moves into a cluster with its history.
func (c *Claim) DataDir() string { return filepath.Join(c.dir, localDataName) }

// LogFile is where etcd's log goes.
func (c *Claim) LogFile() string { return filepath.Join(c.dir, localLogName) }

// MarkHosted records that the member belongs to a cluster of machines
// from now on, and forgets the loopback URLs [Local] used: the shared
// member is never started on this data again.
func (c *Claim) MarkHosted() error {
	if err := fsutil.WriteFileAtomic(filepath.Join(c.dir, hostedName), []byte("run by parley host\n"), 0o600); err != nil {
		return fmt.Errorf("node: mark the member hosted: %w", err)
	}
	if err := os.Remove(filepath.Join(c.dir, localRecordName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node: forget the local member's URLs: %w", err)
	}
	return nil
}

// Close releases the lock.
func (c *Claim) Close() error { return c.lock.Close() }

// isHosted reports whether dir (<home>/etcd) was marked by MarkHosted.
func isHosted(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, hostedName))
	return err == nil
}

// updatePeerURLs is [Admin.UpdatePeerURLs] through cli.
func updatePeerURLs(ctx context.Context, cli *clientv3.Client, id uint64, peerURLs []string) error {
	for _, u := range peerURLs {
		if _, err := parseMemberURL(u); err != nil {
			return fmt.Errorf("node: update member %x: %w", id, err)
		}
	}
	err := retry(ctx, func() error {
		_, err := cli.MemberUpdate(ctx, id, peerURLs)
		return err
	}, isUnhealthy)
	if err != nil {
		return fmt.Errorf("node: update the peer URLs of member %x: %w", id, err)
	}
	return nil
}
