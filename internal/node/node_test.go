package node_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

func TestConfigValidate(t *testing.T) {
	valid := node.DefaultConfig("m1", t.TempDir())
	if err := valid.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if err := (node.Config{DataDir: t.TempDir()}).Validate(); err != nil {
		t.Fatalf("zero config with a data dir: %v", err)
	}
	if valid.AutoCompactionMode != node.CompactionPeriodic || valid.AutoCompactionRetention != "1h" ||
		valid.QuotaBackendBytes != 2<<30 || valid.SnapshotCount != 10000 ||
		valid.InitialCluster != "m1=http://127.0.0.1:2380" || valid.InitialClusterState != node.ClusterStateNew {
		t.Errorf("DefaultConfig = %+v", valid)
	}

	for _, tc := range []struct {
		name   string
		change func(*node.Config)
		want   string
	}{
		{"no data dir", func(c *node.Config) { c.DataDir = "" }, "DataDir"},
		{"scheme", func(c *node.Config) { c.ListenClientURLs = []string{"unix:///tmp/x"} }, "scheme"},
		{"port 0", func(c *node.Config) { c.ListenPeerURLs = []string{"http://127.0.0.1:0"} }, "port"},
		{"path", func(c *node.Config) { c.AdvertiseClientURLs = []string{"http://127.0.0.1:1/x"} }, "host:port"},
		{"https without cert", func(c *node.Config) { c.ListenClientURLs = []string{"https://127.0.0.1:2379"} }, "CertFile"},
		{"peer https without cert", func(c *node.Config) { c.ListenPeerURLs = []string{"https://127.0.0.1:2380"} }, "PeerCertFile"},
		{"client cert auth without CA", func(c *node.Config) { c.ClientCertAuth = true }, "TrustedCAFile"},
		{"state", func(c *node.Config) { c.InitialClusterState = "old" }, "InitialClusterState"},
		{"cluster without self", func(c *node.Config) { c.InitialCluster = "m2=http://127.0.0.1:2380" }, "does not list"},
		{"cluster with other URL", func(c *node.Config) { c.InitialCluster = "m1=http://127.0.0.1:2381" }, "InitialAdvertisePeerURLs"},
		{"compaction mode", func(c *node.Config) { c.AutoCompactionMode = "sometimes" }, "AutoCompactionMode"},
		{"periodic retention", func(c *node.Config) { c.AutoCompactionRetention = "soon" }, "AutoCompactionRetention"},
		{"revision retention", func(c *node.Config) {
			c.AutoCompactionMode = node.CompactionRevision
			c.AutoCompactionRetention = "1h"
		}, "AutoCompactionRetention"},
		{"election", func(c *node.Config) { c.ElectionTimeout = 2 * c.HeartbeatInterval }, "ElectionTimeout"},
		{"log level", func(c *node.Config) { c.LogLevel = "loud" }, "LogLevel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestStartPutRestart(t *testing.T) {
	cfg := testConfig(t, "solo")
	began := time.Now()
	n := startNode(t, cfg)
	t.Logf("member started in %v", time.Since(began))

	if n.Name() != "solo" || n.ID() == 0 {
		t.Errorf("Name, ID = %q, %x", n.Name(), n.ID())
	}
	if got := n.ClientURLs(); len(got) != 1 || got[0] != cfg.ListenClientURLs[0] {
		t.Errorf("ClientURLs = %v, want %v", got, cfg.ListenClientURLs)
	}
	if got := n.PeerURLs(); len(got) != 1 || got[0] != cfg.ListenPeerURLs[0] {
		t.Errorf("PeerURLs = %v, want %v", got, cfg.ListenPeerURLs)
	}
	cli := newClient(t, n.ClientURLs())
	mustPut(t, cli, "k", "v")

	// A watch stays open across Close, as in real use: Close must not
	// wait for it.
	wch := cli.Watch(testContext(t, time.Minute), "k")
	_ = wch
	time.Sleep(50 * time.Millisecond)
	began = time.Now()
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Close took %v with an open watch", d)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := n.Err(); err != nil {
		t.Errorf("Err after Close = %v", err)
	}

	info, err := os.Stat(cfg.LogFile)
	if err != nil || info.Size() == 0 {
		t.Errorf("etcd log %s: %v, %v", cfg.LogFile, info, err)
	}

	n2 := startNode(t, cfg)
	if n2.ID() != n.ID() {
		t.Errorf("restarted member ID %x, want %x", n2.ID(), n.ID())
	}
	mustGet(t, cli, "k", "v")
}

func TestStartAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t, "busy")
	cfg.ListenClientURLs = []string{"http://" + l.Addr().String()}

	_, err = node.Start(testContext(t, 10*time.Second), cfg, nil)
	if err == nil {
		t.Fatal("Start succeeded on a port in use")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Start = %v, want an address-in-use error naming %s", err, l.Addr())
	}
}

func TestStartNotReady(t *testing.T) {
	// The first member of a two-member cluster cannot become ready alone.
	cfg := testConfig(t, "a")
	other, err := node.FreeLoopbackURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InitialCluster = "a=" + cfg.ListenPeerURLs[0] + ",b=" + other[0]

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = node.Start(ctx, cfg, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("Start = %v, want a not-ready deadline error", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Start returned after %v", d)
	}
	// The ports are free again.
	for _, u := range append(cfg.ListenClientURLs, cfg.ListenPeerURLs...) {
		l, err := net.Listen("tcp4", strings.TrimPrefix(u, "http://"))
		if err != nil {
			t.Fatalf("port of %s still taken: %v", u, err)
		}
		l.Close()
	}
}
