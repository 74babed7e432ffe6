package store

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseBucket is how finely the expiry of disappearing messages is
// grouped: messages due in the same bucket share one etcd lease, so a busy
// room costs one lease grant a bucket, not one per message. A bucket is a
// tenth of the time messages live, from a second to a minute.
func leaseBucket(ttl time.Duration) time.Duration {
	return min(max(ttl/10, time.Second), time.Minute)
}

// leaseCache hands out leases by expiry minute. mu guards byEnd.
type leaseCache struct {
	mu    sync.Mutex
	byEnd map[int64]clientv3.LeaseID // expiry in unix milliseconds -> lease
}

// forTTL returns a lease that expires at the end of the bucket in which
// now + ttl falls: at least ttl from now, at most a bucket more.
func (l *leaseCache) forTTL(ctx context.Context, cli *clientv3.Client, ttl time.Duration) (clientv3.LeaseID, error) {
	now := time.Now()
	b := leaseBucket(ttl)
	end := now.Add(ttl).Truncate(b).Add(b)
	key := end.UnixMilli()
	l.mu.Lock()
	if l.byEnd == nil {
		l.byEnd = make(map[int64]clientv3.LeaseID)
	}
	for k := range l.byEnd {
		if k < now.UnixMilli() {
			delete(l.byEnd, k)
		}
	}
	id, ok := l.byEnd[key]
	l.mu.Unlock()
	if ok {
		return id, nil
	}
	resp, err := cli.Grant(ctx, int64(end.Sub(now)/time.Second)+1)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.byEnd[key]; ok {
		return id, nil // another writer granted one meanwhile; ours just expires unused
	}
	l.byEnd[key] = resp.ID
	return resp.ID, nil
}

func leaseOpt(id clientv3.LeaseID) []clientv3.OpOption {
	if id == 0 {
		return nil
	}
	return []clientv3.OpOption{clientv3.WithLease(id)}
}
