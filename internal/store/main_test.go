package store_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// A closed etcd member's peer connections take up to its 5 s read
		// timeout to close after Close returned, the more so when the
		// test took the cluster's quorum away: wait for them.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	os.Exit(code)
}
