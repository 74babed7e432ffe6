//go:build unix

package clustertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// A "machine" in these tests is a home of its own and a loopback address
// of its own (127.0.0.2, 127.0.0.3, ...): its member listens there, and
// every other machine reaches it there, as on a network.

// machine is one machine of a cluster of machines.
type machine struct {
	h    *harness
	name string
	ip   string
	base int // client port; peers on base+1, invitations on base+2
	home string
	p    *proc // its parley host or parley join-cluster, while it runs
}

// newMachine picks free ports on ip for a new machine; it skips the test
// where addresses other than 127.0.0.1 cannot be bound.
func (h *harness) machine(name, ip string) *machine {
	h.t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(40000)
		var ls []net.Listener
		ok := true
		for i := range 3 {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(base+i)))
			if err != nil {
				if i == 0 && strings.Contains(err.Error(), "assign requested address") {
					h.t.Skipf("cannot listen on %s: %v", ip, err)
				}
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return &machine{h: h, name: name, ip: ip, base: base, home: filepath.Join(h.dir, "machine-"+name)}
		}
	}
	h.t.Fatalf("no free ports on %s", ip)
	return nil
}

func (m *machine) addr(offset int) string { return net.JoinHostPort(m.ip, fmt.Sprint(m.base+offset)) }

// run runs one parley command with the machine's home and no endpoints:
// what the home's cluster file says.
func (m *machine) run(args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(m.h.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.h.bin, append([]string{"--home", m.home, "--timeout", "20s"}, args...)...)
	cmd.Dir = m.h.dir
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = sysProcAttr()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
	}
	return out.String(), errb.String(), code
}

func (m *machine) must(args ...string) string {
	m.h.t.Helper()
	out, errOut, code := m.run(args...)
	if code != 0 {
		m.h.t.Fatalf("%s: parley %s: exit %d: %s", m.name, strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails runs a command that must exit with code, and returns its stderr.
func (m *machine) fails(code int, args ...string) string {
	m.h.t.Helper()
	_, errOut, got := m.run(args...)
	if got != code {
		m.h.t.Fatalf("%s: parley %s: exit %d, want %d: %s", m.name, strings.Join(args, " "), got, code, errOut)
	}
	return errOut
}

var (
	memberStartedRE = regexp.MustCompile(`host \S+: started as`)
	promotedRE      = regexp.MustCompile(`promoted to a voting member, (\S+) after start`)
)

// memberFlags place the machine's member on its address.
func (m *machine) memberFlags() []string {
	return []string{"--listen", m.addr(0), "--name", m.name, "--unsafe-no-fsync"}
}

// host runs parley host and waits until its member serves.
func (m *machine) host() {
	m.h.t.Helper()
	m.p = m.h.start("m-"+m.name, nil, append([]string{"--home", m.home, "host"}, m.memberFlags()...)...)
	if line, _ := m.p.waitStderr(regexp.MustCompile(`host \S+: ready`), 60*time.Second); line == "" {
		m.h.t.Fatalf("%s: parley host did not start: %s", m.name, tail(m.p.stderrText(), 3000))
	}
}

// restartHost runs parley host again on the machine's existing home.
func (m *machine) restartHost() {
	m.h.t.Helper()
	m.p = m.h.start("m-"+m.name, nil, "--home", m.home, "host")
	if line, _ := m.p.waitStderr(memberStartedRE, 60*time.Second); line == "" {
		m.h.t.Fatalf("%s: parley host did not restart: %s", m.name, tail(m.p.stderrText(), 3000))
	}
}

// invite makes an invitation on the machine and returns its line.
func (m *machine) invite(args ...string) string {
	m.h.t.Helper()
	out := strings.TrimSpace(m.must(append([]string{"invite"}, args...)...))
	if !strings.HasPrefix(out, "parley1:") || strings.Contains(out, "\n") {
		m.h.t.Fatalf("%s: invite printed %q", m.name, out)
	}
	return out
}

// joinMember runs parley join-cluster for a member and waits until it
// serves, and for a voter until it is promoted; it returns the time from
// its start to its promotion.
func (m *machine) joinMember(token string, voter bool) time.Duration {
	m.h.t.Helper()
	m.p = m.h.start("m-"+m.name, nil, append([]string{"--home", m.home, "join-cluster", token}, m.memberFlags()...)...)
	if line, _ := m.p.waitStderr(memberStartedRE, 60*time.Second); line == "" {
		m.h.t.Fatalf("%s: join-cluster did not start a member: %s", m.name, tail(m.p.stderrText(), 3000))
	}
	if !voter {
		return 0
	}
	line, _ := m.p.waitStderr(promotedRE, 60*time.Second)
	if line == "" {
		m.h.t.Fatalf("%s: not promoted: %s", m.name, tail(m.p.stderrText(), 3000))
	}
	d, _ := time.ParseDuration(promotedRE.FindStringSubmatch(line)[1])
	return d
}

// readJSON reads a room as user and returns the messages' texts and
// whether every line was marked stale.
func (m *machine) readJSON(user, room string) (texts []string, stale bool, stderr string) {
	m.h.t.Helper()
	out, errOut, code := m.run("--user", user, "read", room, "--json")
	if code != 0 {
		m.h.t.Fatalf("%s: %s reads %s: exit %d: %s", m.name, user, room, code, errOut)
	}
	stale = true
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var o struct {
			Text  string `json:"text"`
			Stale bool   `json:"stale"`
		}
		if json.Unmarshal([]byte(line), &o) != nil {
			m.h.t.Fatalf("%s: read --json printed %q", m.name, line)
		}
		texts = append(texts, o.Text)
		stale = stale && o.Stale
	}
	return texts, stale && len(texts) > 0, errOut
}

// waitRead waits up to d until user on m reads want in room.
func (m *machine) waitRead(user, room, want string, d time.Duration) {
	m.h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, errOut, code := m.run("--user", user, "read", room)
		if code == 0 && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			m.h.t.Fatalf("%s: %s never read %q in %s: exit %d: %s%s", m.name, user, want, room, code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAcrossMachines is the walkthrough of docs/cluster.md on four
// "machines": a chat begun on one machine's embedded member moves into a
// TLS cluster with parley host; a second and a third machine join as
// voters with invitations (the third invited by the second), a fourth as
// a client; they chat both ways; the host is killed and the others chat
// on; a second member is killed and the survivor still reads the
// history, marked as its own copy, while its sends queue.
func TestAcrossMachines(t *testing.T) {
	h := newHarness(t)
	began := time.Now()
	a, b, c, d := h.machine("alpha", "127.0.0.2"), h.machine("bravo", "127.0.0.3"), h.machine("charlie", "127.0.0.4"), h.machine("delta", "127.0.0.5")
	commands := 0
	step := func(m *machine, args ...string) string { commands++; return m.must(args...) }

	// A chat on alpha's embedded member, before there is any cluster.
	step(a, "--user", "alice", "create", "general")
	step(a, "--user", "alice", "send", "general", "said before the cluster")

	commands++
	a.host()
	if !strings.Contains(a.p.stderrText(), "moving this home's chat into cluster") {
		t.Errorf("host did not move the home's chat: %s", a.p.stderrText())
	}
	checkListeners(t, a)
	if texts, _, _ := a.readJSON("alice", "general"); len(texts) != 1 || texts[0] != "said before the cluster" {
		t.Fatalf("history after the move to TLS: %q", texts)
	}

	commands += 2
	promoB := b.joinMember(a.invite(), true)
	checkListeners(t, b)
	warn := regexp.MustCompile(`2 voting members: this chat stops when either machine is off; add a third member`)
	if line, _ := a.p.waitStderr(warn, 10*time.Second); line == "" {
		t.Errorf("no warning about two voters: %s", a.p.stderrText())
	}
	if _, errOut, _ := a.run("cluster", "status"); !warn.MatchString(errOut) {
		t.Errorf("cluster status with two voters does not warn: %s", errOut)
	}

	// Both ways.
	step(b, "--user", "bob", "join", "general")
	step(a, "--user", "alice", "approve", "general", "bob")
	step(b, "--user", "bob", "send", "general", "bob on bravo")
	a.waitRead("alice", "general", "bob on bravo", 20*time.Second)
	step(a, "--user", "alice", "send", "general", "alice on alpha")
	b.waitRead("bob", "general", "alice on alpha", 20*time.Second)

	// A third voter, invited by bravo; a client.
	commands += 2
	promoC := c.joinMember(b.invite(), true)
	step(c, "--user", "carol", "join", "general")
	step(b, "--user", "bob", "approve", "general", "carol")
	step(c, "--user", "carol", "send", "general", "carol on charlie")
	a.waitRead("alice", "general", "carol on charlie", 20*time.Second)
	threeMachines := time.Since(began)
	t.Logf("from nothing to a three-machine chat: %d commands, %v; promotions %v (bravo), %v (charlie)",
		commands, threeMachines.Round(100*time.Millisecond), promoB, promoC)

	out := d.must("join-cluster", a.invite("--as", "client"), "--name", d.name)
	if !strings.Contains(out, "(client)") {
		t.Errorf("client join: %q", out)
	}
	d.must("--user", "dave", "rooms")
	d.must("--user", "erin", "rooms") // a second user of the machine: no invitation of her own
	status := d.must("cluster", "status")
	for _, want := range []string{"alpha", "bravo", "charlie", "delta", "3 members (3 voting), 3 answering"} {
		if !strings.Contains(status, want) {
			t.Errorf("cluster status lacks %q:\n%s", want, status)
		}
	}

	// The host dies; the others chat on.
	a.p.kill()
	c.must("--user", "carol", "send", "general", "alpha is gone")
	b.waitRead("bob", "general", "alpha is gone", 30*time.Second)
	b.must("--user", "bob", "send", "general", "still here")
	c.waitRead("carol", "general", "still here", 30*time.Second)
	d.must("--user", "dave", "rooms")

	// A second member dies: no quorum. Bravo still reads its copy.
	c.p.kill()
	// The member notices it has lost its leader within an election
	// timeout or two; reads fall back by themselves meanwhile.
	start := time.Now()
	texts, stale, errOut := b.readJSON("bob", "general")
	took := time.Since(start)
	want := []string{"said before the cluster", "bob on bravo", "alice on alpha", "carol on charlie", "alpha is gone", "still here"}
	if strings.Join(texts, "|") != strings.Join(want, "|") || !stale {
		t.Errorf("read without a quorum: %q stale=%v, want %q stale", texts, stale, want)
	}
	if !strings.Contains(errOut, "read-only: no quorum; showing this machine's copy as of ") {
		t.Errorf("read without a quorum says: %s", errOut)
	}
	// Once the member has seen no leader for a while, the read goes to
	// its copy at once.
	waitFor(t, 20*time.Second, "bravo's member to see no quorum", func() bool {
		s := time.Now()
		_, stale, _ := b.readJSON("bob", "general")
		took2 := time.Since(s)
		if stale && took2 < 2*time.Second {
			t.Logf("read without a quorum: %v at first, %v once the member has seen no leader for two election timeouts", took.Round(time.Millisecond), took2.Round(time.Millisecond))
			return true
		}
		return false
	})
	_, errOut, code := b.run("--user", "bob", "send", "general", "queued while alone")
	if code != 0 || !strings.Contains(errOut, "queued") {
		t.Errorf("send without a quorum: exit %d: %s", code, errOut)
	}
	// Charlie comes back: the queue drains, and reads are fresh again.
	c.restartHost()
	b.must("--user", "bob", "outbox", "--deliver")
	c.waitRead("carol", "general", "queued while alone", 30*time.Second)
	if _, stale, _ := b.readJSON("bob", "general"); stale {
		t.Errorf("read marked stale after the quorum came back")
	}
}

// checkListeners checks that none of a member's listeners serves a
// plaintext connection or a client without a certificate, except the
// invitation endpoint, which serves only a join request with a valid
// invitation.
func checkListeners(t *testing.T, m *machine) {
	t.Helper()
	for _, off := range []int{0, 1} {
		addr := m.addr(off)
		// Plain HTTP/1 and HTTP/2 without TLS.
		for _, probe := range []string{"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"} {
			if resp := plainExchange(t, addr, probe); strings.Contains(resp, "200 OK") || strings.Contains(resp, "health") {
				t.Errorf("%s answered plaintext %q with %q", addr, probe[:8], resp)
			}
		}
		if err := tlsGet(addr, nil); err == nil {
			t.Errorf("%s served a client without a certificate", addr)
		}
	}
	join := m.addr(2)
	if resp := plainExchange(t, join, "POST /parley/v2/join HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); strings.Contains(resp, "200 OK") {
		t.Errorf("invitation endpoint answered plaintext: %q", resp)
	}
	_, csr, err := node.NewKeyAndCSR("mallory", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(node.JoinRequest{TokenID: "000000000000", Secret: make([]byte, 32), CSR: csr, Name: "mallory"})
	if err := tlsGet(join, body); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "token-wrong") {
		t.Errorf("invitation endpoint, made-up invitation: %v", err)
	}
}

// plainExchange writes probe to addr without TLS and returns what comes
// back within 2 s.
func plainExchange(t *testing.T, addr, probe string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	conn.Write([]byte(probe))
	b, _ := io.ReadAll(conn)
	return string(b)
}

// tlsGet connects to addr over TLS without a client certificate (and
// without checking the server's) and sends GET /health, or POSTs body to
// the invitation endpoint; nil means 200 OK.
func tlsGet(addr string, body []byte) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true} //nolint:gosec // probing
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var resp *http.Response
	var err error
	if body == nil {
		resp, err = cl.Get("https://" + addr + "/health")
	} else {
		resp, err = cl.Post("https://"+addr+"/parley/v2/join", "application/json", bytes.NewReader(body))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

// waitFor polls cond until it holds, for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
