package storetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// StockEtcd returns the path of a stock etcd server binary to test
// against: $PARLEY_TEST_ETCD, or etcd on $PATH. If there is none the test
// is skipped, unless $PARLEY_REQUIRE_STOCK_ETCD is set (as in CI), in which
// case it fails.
func StockEtcd(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PARLEY_TEST_ETCD")
	if bin == "" {
		bin, _ = exec.LookPath("etcd")
	}
	if bin == "" {
		if os.Getenv("PARLEY_REQUIRE_STOCK_ETCD") != "" {
			t.Fatal("storetest: no stock etcd binary: install etcd-server or set PARLEY_TEST_ETCD")
		}
		t.Skip("no stock etcd binary (install Debian's etcd-server or set PARLEY_TEST_ETCD)")
	}
	return bin
}

// StartStock runs the stock etcd server binary bin as a separate process,
// a single member on 127.0.0.1 random ports with its data in a temporary
// directory, and returns its client endpoint. The process is stopped when
// the test ends.
func StartStock(t testing.TB, bin string) []string {
	t.Helper()
	dir := t.TempDir()
	for attempt := 0; attempt < attempts; attempt++ {
		urls, err := node.FreeLoopbackURLs(2)
		if err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("etcd-%d.log", attempt))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin,
			"--name", "stock",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--listen-client-urls", urls[0], "--advertise-client-urls", urls[0],
			"--listen-peer-urls", urls[1], "--initial-advertise-peer-urls", urls[1],
			"--initial-cluster", "stock="+urls[1],
			"--heartbeat-interval", "10", "--election-timeout", "100",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		// Debian's etcd 3.4 refuses to start on some architectures
		// without this; it is harmless elsewhere.
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+goarch())
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("storetest: start %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logf.Close()
		}
		if err := waitServing(urls[0], exited, 20*time.Second); err != nil {
			stop()
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "address already in use") {
				continue
			}
			t.Fatalf("storetest: %s did not start: %v\n%s", bin, err, tail(string(log), 2000))
		}
		t.Cleanup(stop)
		return []string{urls[0]}
	}
	t.Fatalf("storetest: could not find free ports for %s", bin)
	return nil
}

func waitServing(clientURL string, exited <-chan error, timeout time.Duration) error {
	u, err := url.Parse(clientURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			continue
		}
		c.Close()
		// Serving on the socket; give it a moment to elect itself.
		return nil
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
