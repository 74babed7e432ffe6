package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// benchDir holds the raw keys written by `parley bench` to measure etcd
// itself next to Parley; they are deleted when the run ends.
//
//	/parley/v1/bench/<run>/<n>
const benchDir = Prefix + "bench/"

// BenchPut writes one raw key of a benchmark run with a plain etcd Put: the
// baseline Parley's sends are compared with.
func (c *Client) BenchPut(ctx context.Context, run string, n int, value []byte) error {
	_, err := c.cli.Put(ctx, fmt.Sprintf("%s%s/%012d", benchDir, run, n), string(value))
	return mapErr(err)
}

// BenchWatch delivers, for every raw key put in run from now on, the time
// its watch event was received.
func (c *Client) BenchWatch(ctx context.Context, run string) (<-chan time.Time, error) {
	out := make(chan time.Time, 1024)
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), benchDir+run+"/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	// Wait until the watch exists, so no put is missed.
	select {
	case resp, ok := <-wch:
		if !ok {
			return nil, fmt.Errorf("bench watch: %w", ErrUnavailable)
		}
		if err := resp.Err(); err != nil {
			return nil, mapErr(err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	go func() {
		defer close(out)
		for resp := range wch {
			now := time.Now()
			for range resp.Events {
				select {
				case out <- now:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// BenchCleanup deletes the raw keys of a run.
func (c *Client) BenchCleanup(ctx context.Context, run string) error {
	_, err := c.cli.Delete(ctx, benchDir+run+"/", clientv3.WithPrefix())
	return mapErr(err)
}
