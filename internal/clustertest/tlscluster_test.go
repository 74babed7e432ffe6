//go:build unix

package clustertest

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTLS runs a cluster whose members require certificates from their
// clients and from each other: it forms, `parley cluster` reaches it with
// a client certificate and not without, a fourth member joins it over
// TLS, chat clients send and read over TLS, and members stop cleanly on
// SIGTERM and SIGINT.
func TestTLS(t *testing.T) {
	h := newHarness(t)
	files := newTLSFiles(t, filepath.Join(h.dir, "tls"), "m1", "m2", "m3", "m4")
	c := h.startCluster(3, clusterOpts{tls: files, heartbeatMs: 50, electionMs: 500})
	eps := c.endpoints()
	for _, e := range eps {
		if !strings.HasPrefix(e, "https://") {
			t.Fatalf("endpoint %s is not https", e)
		}
	}

	admin := h.client("admin", eps, 10*time.Second)
	st := clusterStatusJSON(t, admin, files.clientFlags()...)
	if len(st) != 3 {
		t.Fatalf("cluster status: %v", st)
	}
	for name, m := range st {
		if m["reachable"] != true || !strings.HasPrefix(fmt.Sprint(m["peer_urls"]), "[https://") {
			t.Errorf("member %s: %v", name, m)
		}
	}
	// Without a client certificate the members refuse, and the error
	// says so (exit 4, refused) rather than that the cluster is down.
	anon := h.client("anon", eps, 3*time.Second)
	if _, errOut, code := anon.run("cluster", "--cacert", files.ca, "status"); code != 4 || !strings.Contains(errOut, "requires a client certificate") {
		t.Errorf("cluster status without a client certificate: exit %d, want 4: %s", code, errOut)
	}

	// A fourth member joins over TLS; its certificate is also its client
	// certificate for the cluster.
	urls := freeURLs(t, 2)
	m4URL := "https://" + strings.TrimPrefix(urls[0], "http://")
	m4 := h.start("m4", nil, append([]string{"node", "--name", "m4", "--data-dir", filepath.Join(h.dir, "m4"),
		"--listen-client-urls", m4URL, "--listen-peer-urls", "https://" + strings.TrimPrefix(urls[1], "http://"),
		"--join", strings.Join(eps, ","), "--heartbeat-interval", "50", "--election-timeout", "500", "--unsafe-no-fsync"},
		files.memberFlags("m4")...)...)
	line, seen := m4.waitStderr(regexp.MustCompile(`promoted to a voting member`), 60*time.Second)
	if line == "" {
		t.Fatalf("m4 did not join: %s", m4.stderrText())
	}
	t.Logf("join over TLS took %v from starting parley node --join to promoted", seen.Sub(m4.started).Round(time.Millisecond))
	c.waitHealthy(4, 30*time.Second)

	// Chat over TLS, through all four members.
	all := append(eps, m4URL)
	alice := newInproc(t, "alice", all, files.clientConfig(t))
	bob := newInproc(t, "bob", all, files.clientConfig(t))
	setupInprocRoom(t, "secure", alice, bob)
	var sends []Send
	for i := range 5 {
		for _, cl := range []*inproc{alice, bob} {
			s := cl.send("secure", fmt.Sprintf("%s-%d", cl.name, i))
			if s.Outcome != Sent {
				t.Fatalf("%s could not send over TLS", cl.name)
			}
			sends = append(sends, s)
		}
	}
	hist := History{Sends: sends, Reads: []Read{alice.read("secure"), bob.read("secure")}}
	checkHistory(t, hist)
	if n := len(hist.Reads[0].Messages); n != 10 {
		t.Errorf("read %d messages over TLS, want 10", n)
	}
	// The command line chats over TLS too, with the global TLS flags.
	tf := files.clientFlags()
	carol := h.client("carol", all, 20*time.Second)
	carol.must(append(tf, "create", "cli-secure")...)
	carol.must(append(tf, "send", "cli-secure", "over tls")...)
	out := carol.must(append(tf, "read", "cli-secure", "--json")...)
	if !strings.Contains(out, `"text":"over tls"`) {
		t.Errorf("read over TLS from the command line: %q", out)
	}
	if _, errOut, code := carol.run("--cacert", files.ca, "rooms"); code != 4 || !strings.Contains(errOut, "requires a client certificate") {
		t.Errorf("rooms without a client certificate: exit %d, want 4: %s", code, errOut)
	}

	// Members stop cleanly, exit 0, on SIGTERM and SIGINT.
	for _, stop := range []struct {
		p   *proc
		sig syscall.Signal
	}{{m4, syscall.SIGTERM}, {c.members[0].p, syscall.SIGINT}} {
		if !stop.p.signal(stop.sig, 30*time.Second) {
			t.Fatalf("%s did not stop on %v", stop.p.name, stop.sig)
		}
		if code, out := stop.p.exitCode(), stop.p.stderrText(); code != 0 || !strings.Contains(out, ": stopping") || !strings.Contains(out, ": stopped") {
			t.Errorf("%s after %v: exit %d: %s", stop.p.name, stop.sig, code, out)
		}
	}
	// Two of four members are left: no quorum, and status says so.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := c.status(ctx); err != nil {
		t.Errorf("status of the remaining members: %v", err)
	}
	out, _, _ = admin.run(append(append([]string{"cluster"}, files.clientFlags()...), "status")...)
	if !strings.Contains(out, "NO quorum") {
		t.Errorf("cluster status with two of four members up:\n%s", out)
	}
}
