//go:build unix

package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// The parley binary, built once per test binary by parleyBinary.
var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// parleyBinary builds cmd/parley, once, and returns its path.
func parleyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			buildErr = fmt.Errorf("find the module root: %v", err)
			return
		}
		if buildDir, buildErr = os.MkdirTemp("", "parley-clustertest-"); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "parley")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/parley")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/parley: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// harness runs one test's processes and stops every one of them when the
// test ends, whatever happened.
type harness struct {
	t   *testing.T
	bin string
	dir string
	// ctx ends when the test does; it kills the client commands still
	// running.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup // sender loops

	mu    sync.Mutex
	procs []*proc
	seq   int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts clusters of parley processes; skipped with -short")
	}
	h := &harness{t: t, bin: parleyBinary(t), dir: t.TempDir()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	t.Cleanup(h.stopAll)
	return h
}

// proc is one process the harness started. Its stdout and stderr go to
// files.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	stdout  string
	stderr  string
	done    chan struct{}
	err     error // Wait's result, set before done is closed
}

// start runs the parley binary with args in the background.
func (h *harness) start(name string, env []string, args ...string) *proc {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	seq := h.seq
	h.mu.Unlock()
	logs := filepath.Join(h.dir, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		h.t.Fatal(err)
	}
	p := &proc{
		name:   name,
		stdout: filepath.Join(logs, fmt.Sprintf("%s.%d.out", name, seq)),
		stderr: filepath.Join(logs, fmt.Sprintf("%s.%d.err", name, seq)),
		done:   make(chan struct{}),
	}
	outf, err := os.Create(p.stdout)
	if err != nil {
		h.t.Fatal(err)
	}
	errf, err := os.Create(p.stderr)
	if err != nil {
		outf.Close()
		h.t.Fatal(err)
	}
	p.cmd = exec.Command(h.bin, args...)
	p.cmd.Dir = h.dir
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = outf, errf
	p.cmd.SysProcAttr = sysProcAttr()
	p.started = time.Now()
	err = p.cmd.Start()
	outf.Close()
	errf.Close()
	if err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p
}

// cleanEnv is the test's environment without parley's and etcd's own
// variables, so that only the flags given count.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") && !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	return out
}

// stopAll kills every process still running and waits for it; on failure
// it shows the end of the members' event logs.
func (h *harness) stopAll() {
	h.cancel()
	h.loops.Wait()
	h.mu.Lock()
	procs := slices.Clone(h.procs)
	h.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	if h.t.Failed() {
		for _, p := range procs {
			if strings.HasPrefix(p.name, "m") {
				h.t.Logf("--- stderr of %s (%s):\n%s", p.name, p.stderr, tail(p.stderrText(), 1500))
			}
		}
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// signal sends sig and waits up to d for the process to end; it reports
// whether it ended.
func (p *proc) signal(sig os.Signal, d time.Duration) bool {
	if !p.exited() {
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitExit waits up to d for the process to end by itself.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode returns the exit code of an ended process, -1 if a signal
// ended it.
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) stderrText() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

func (p *proc) stdoutText() string {
	b, _ := os.ReadFile(p.stdout)
	return string(b)
}

// waitStderr waits up to d for a line of stderr that matches re, and
// returns it with the time it was seen; "" if the process ended or d
// passed first.
func (p *proc) waitStderr(re *regexp.Regexp, d time.Duration) (string, time.Time) {
	deadline := time.Now().Add(d)
	for {
		for line := range strings.SplitSeq(p.stderrText(), "\n") {
			if re.MatchString(line) {
				return line, time.Now()
			}
		}
		if p.exited() || time.Now().After(deadline) {
			return "", time.Time{}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// member is one `parley node` process of a cluster.
type member struct {
	name      string
	clientURL string
	peerURL   string
	dataDir   string
	args      []string
	p         *proc
}

// cluster is a cluster of `parley node` processes on 127.0.0.1.
type cluster struct {
	h       *harness
	members []*member
	tls     *tlsFiles
	admin   *node.Admin
}

type clusterOpts struct {
	heartbeatMs, electionMs int // zero: etcd's defaults (100, 1000)
	tls                     *tlsFiles
}

var startedRE = regexp.MustCompile(`node \S+: started as`)

// startCluster starts n members and waits until they form a healthy
// cluster. Ports are picked free and, if one is taken meanwhile, the
// cluster is started again on new ones.
func (h *harness) startCluster(n int, o clusterOpts) *cluster {
	h.t.Helper()
	if o.heartbeatMs == 0 {
		o.heartbeatMs, o.electionMs = 100, 1000
	}
	for attempt := 1; ; attempt++ {
		c, err := h.tryCluster(n, o, attempt)
		if err == nil {
			return c
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			h.t.Fatalf("start a cluster of %d: %v", n, err)
		}
	}
}

func (h *harness) tryCluster(n int, o clusterOpts, attempt int) (*cluster, error) {
	urls, err := node.FreeLoopbackURLs(2 * n)
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if o.tls != nil {
		scheme = "https://"
	}
	c := &cluster{h: h, tls: o.tls}
	var initial []string
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i+1),
			clientURL: scheme + strings.TrimPrefix(urls[2*i], "http://"),
			peerURL:   scheme + strings.TrimPrefix(urls[2*i+1], "http://"),
		}
		m.dataDir = filepath.Join(h.dir, fmt.Sprintf("try%d", attempt), m.name)
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	for _, m := range c.members {
		m.args = []string{"node", "--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", fmt.Sprintf("clustertest-%d", attempt),
			"--heartbeat-interval", fmt.Sprint(o.heartbeatMs), "--election-timeout", fmt.Sprint(o.electionMs),
			"--unsafe-no-fsync"}
		if o.tls != nil {
			m.args = append(m.args, o.tls.memberFlags(m.name)...)
		}
		m.p = h.start(m.name, nil, m.args...)
	}
	for _, m := range c.members {
		if line, _ := m.p.waitStderr(startedRE, 60*time.Second); line == "" {
			for _, m := range c.members {
				m.p.kill()
			}
			return nil, fmt.Errorf("member %s did not start: %s", m.name, tail(m.p.stderrText(), 2000))
		}
	}
	eps := c.endpoints()
	c.admin, err = node.OpenAdmin(node.AdminConfig{Endpoints: eps, TLS: c.tls.clientConfig(h.t)})
	if err != nil {
		return nil, err
	}
	h.t.Cleanup(func() { c.admin.Close() })
	c.waitHealthy(len(c.members), 60*time.Second)
	return c, nil
}

// endpoints returns the client URLs of the members the cluster started
// with.
func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

func (c *cluster) member(name string) *member {
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	c.h.t.Fatalf("no member %s", name)
	return nil
}

// status returns every member's status; while the cluster has no quorum,
// as one member knows the membership.
func (c *cluster) status(ctx context.Context) ([]node.MemberStatus, error) {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	st, err := c.admin.Status(lctx)
	cancel()
	if err == nil {
		return st, nil
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.admin.StatusAny(actx)
}

// waitHealthy waits until want members all answer, all voting, and agree
// on a leader.
func (c *cluster) waitHealthy(want int, d time.Duration) []node.MemberStatus {
	c.h.t.Helper()
	ctx, cancel := context.WithTimeout(c.h.t.Context(), d)
	defer cancel()
	var last string
	for {
		st, err := c.status(ctx)
		if err == nil {
			last = describeStatus(st)
			if healthy(st, want) {
				return st
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			c.h.t.Fatalf("cluster not healthy with %d voting members after %v: %s", want, d, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func healthy(st []node.MemberStatus, want int) bool {
	if len(st) != want {
		return false
	}
	var leader uint64
	for _, m := range st {
		if !m.Reachable || m.IsLearner || m.Leader == 0 || (leader != 0 && m.Leader != leader) {
			return false
		}
		leader = m.Leader
	}
	return true
}

func describeStatus(st []node.MemberStatus) string {
	var parts []string
	for _, m := range st {
		s := fmt.Sprintf("%s reachable=%v learner=%v leader=%x", m.String(), m.Reachable, m.IsLearner, m.Leader)
		if m.Err != nil {
			s += " err=" + m.Err.Error()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// leader returns the member that leads the cluster.
func (c *cluster) leader() *member {
	c.h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.status(c.h.t.Context())
		if err == nil {
			for _, s := range st {
				if s.Reachable && s.IsLeader {
					for _, m := range c.members {
						if m.name == s.Name && !m.p.exited() {
							return m
						}
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.h.t.Fatal("no leader")
	return nil
}

// kill kills the member with SIGKILL.
func (m *member) kill() { m.p.kill() }

// restart starts a stopped member again on its data.
func (c *cluster) restart(m *member) {
	c.h.t.Helper()
	if !m.p.exited() {
		c.h.t.Fatalf("restart %s: still running", m.name)
	}
	m.p = c.h.start(m.name, nil, m.args...)
	if line, _ := m.p.waitStderr(startedRE, 60*time.Second); line == "" {
		c.h.t.Fatalf("member %s did not restart: %s", m.name, tail(m.p.stderrText(), 2000))
	}
}

// client is a chat user whose every command is a new parley process with
// its own home.
type client struct {
	h       *harness
	name    string
	home    string
	eps     []string
	timeout time.Duration // --timeout of each command
}

func (h *harness) client(name string, eps []string, timeout time.Duration) *client {
	return &client{h: h, name: name, home: filepath.Join(h.dir, "home-"+name), eps: eps, timeout: timeout}
}

func (c *client) args(args ...string) []string {
	return append([]string{"--home", c.home, "--user", c.name, "--endpoints", strings.Join(c.eps, ","),
		"--timeout", c.timeout.String()}, args...)
}

// run runs one parley command, killed if it outlives the command's
// timeout by a minute.
func (c *client) run(args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(c.h.ctx, c.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.h.bin, c.args(args...)...)
	cmd.Dir = c.h.dir
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = sysProcAttr()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if err != nil {
		code = -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
	}
	return out.String(), errb.String(), code
}

// must runs a command that must succeed.
func (c *client) must(args ...string) string {
	c.h.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.h.t.Fatalf("%s: parley %s: exit %d: %s", c.name, strings.Join(args, " "), code, errOut)
	}
	return out
}

// messageJSON is a message as parley prints it with --json.
type messageJSON struct {
	Room     string `json:"room"`
	ID       string `json:"id"`
	Sender   string `json:"sender"`
	Text     string `json:"text"`
	Revision int64  `json:"revision"`
	Pending  bool   `json:"pending"`
	Rejected string `json:"rejected"`
	Notice   string `json:"notice"`
}

// send sends text with one `parley send` process and records the outcome.
func (c *client) send(room, text string) Send {
	s := Send{Client: c.name, Text: text, Invoke: time.Now()}
	out, _, code := c.run("send", "--json", room, text)
	s.Return = time.Now()
	if code != 0 {
		return s
	}
	var m messageJSON
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil || m.ID == "" {
		// Acknowledged, but unreadably: as good as unknown.
		return s
	}
	s.ID = m.ID
	if m.Pending {
		s.Outcome = Queued
	} else {
		s.Outcome, s.Revision = Sent, m.Revision
	}
	return s
}

// tamperRE matches the warnings by which a reader reports tampering.
var tamperRE = regexp.MustCompile(`missing|appears \d+ times|does not follow|deleted|rejected`)

// parseMessages reads parley's --json message lines and the tampering
// warnings on its stderr.
func parseMessages(client, stdout, stderr string) Read {
	r := Read{Client: client}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var m messageJSON
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.Notice != "" || m.ID == "" {
			continue
		}
		r.Messages = append(r.Messages, Message{ID: m.ID, Sender: m.Sender, Text: m.Text, Revision: m.Revision, Rejected: m.Rejected})
	}
	for line := range strings.SplitSeq(stderr, "\n") {
		if w, ok := strings.CutPrefix(line, "parley: warning: "); ok && tamperRE.MatchString(w) {
			r.Warnings = append(r.Warnings, w)
		}
	}
	return r
}

// read reads the whole room with `parley read --json`.
func (c *client) read(room string) Read {
	c.h.t.Helper()
	out, errOut, code := c.run("read", room, "--json")
	if code != 0 {
		c.h.t.Fatalf("%s: read %s: exit %d: %s", c.name, room, code, errOut)
	}
	return parseMessages(c.name, out, errOut)
}

// drainOutbox delivers what the client queued and checks that nothing is
// left.
func (c *client) drainOutbox() {
	c.h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, errOut, code := c.run("outbox", "--deliver")
		out, _, _ := c.run("outbox", "--json")
		if code == 0 && strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			c.h.t.Fatalf("%s: outbox not delivered: exit %d: %s\n%s", c.name, code, errOut, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// follower is a `parley read --follow --json` process.
type follower struct {
	c *client
	p *proc
}

func (c *client) follow(room string) *follower {
	return &follower{c: c, p: c.h.start("follow-"+c.name, nil, c.args("read", room, "--follow", "--json")...)}
}

// stop waits up to d for the follower to have printed want messages, then
// interrupts it, and returns what it printed.
func (f *follower) stop(want int, d time.Duration) Stream {
	f.c.h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && !f.p.exited() {
		if len(parseMessages(f.c.name, f.p.stdoutText(), "").Messages) >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if f.p.exited() {
		f.c.h.t.Errorf("%s's read --follow ended by itself (exit %d): %s", f.c.name, f.p.exitCode(), tail(f.p.stderrText(), 2000))
	}
	if !f.p.signal(syscall.SIGINT, 10*time.Second) {
		f.c.h.t.Errorf("%s's read --follow did not stop on SIGINT", f.c.name)
		f.p.kill()
	}
	r := parseMessages(f.c.name, f.p.stdoutText(), f.p.stderrText())
	return Stream{Read: r, Complete: true}
}

// recorder collects the sends of concurrent clients.
type recorder struct {
	mu    sync.Mutex
	sends []Send
}

func (r *recorder) add(s Send) {
	r.mu.Lock()
	r.sends = append(r.sends, s)
	r.mu.Unlock()
}

func (r *recorder) all() []Send {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sends)
}

// sendLoop sends "<client>-<n>" messages one after the other until ctx
// ends, and returns a channel closed once the last send returned.
func (c *client) sendLoop(ctx context.Context, room string, rec *recorder) <-chan struct{} {
	done := make(chan struct{})
	c.h.loops.Add(1)
	go func() {
		defer c.h.loops.Done()
		defer close(done)
		for i := 1; ctx.Err() == nil; i++ {
			rec.add(c.send(room, fmt.Sprintf("%s-%04d", c.name, i)))
		}
	}()
	return done
}

// setupRoom creates room, owned by owner, with the others as members.
func setupRoom(room string, owner *client, others ...*client) {
	owner.must("create", room)
	for _, o := range others {
		o.must("join", room)
		owner.must("approve", room, o.name)
	}
}

// counts summarises sends by outcome.
func counts(sends []Send) string {
	n := map[Outcome]int{}
	for _, s := range sends {
		n[s.Outcome]++
	}
	return fmt.Sprintf("%d sends: %d sent, %d queued, %d unknown", len(sends), n[Sent], n[Queued], n[Unknown])
}

// stall returns how long after at the first send invoked after it was
// acknowledged as stored.
func stall(sends []Send, at time.Time) (time.Duration, bool) {
	var first time.Time
	for _, s := range sends {
		if s.Outcome == Sent && s.Invoke.After(at) && (first.IsZero() || s.Return.Before(first)) {
			first = s.Return
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return first.Sub(at), true
}

// maxGap returns the longest time between consecutive acknowledgements of
// stored sends, and when it began.
func maxGap(sends []Send) (time.Duration, time.Time) {
	var acks []time.Time
	for _, s := range sends {
		if s.Outcome == Sent {
			acks = append(acks, s.Return)
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	var from time.Time
	for i := 1; i < len(acks); i++ {
		if d := acks[i].Sub(acks[i-1]); d > gap {
			gap, from = d, acks[i-1]
		}
	}
	return gap, from
}

// checkHistory runs the checker and fails the test on a violation.
func checkHistory(t *testing.T, h History) {
	t.Helper()
	if err := Check(h); err != nil {
		t.Error(err)
	}
}

// inproc is a chat client inside the test process, with its own
// connection to the cluster.
type inproc struct {
	t    *testing.T
	name string
	st   *store.Client
	svc  *chat.Service
}

func newInproc(t *testing.T, name string, eps []string, tlsCfg *tls.Config) *inproc {
	t.Helper()
	st, err := store.Open(store.Config{Endpoints: eps, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := crypto.NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	svc, err := chat.Login(ctx, st, id, chat.Options{})
	if err != nil {
		t.Fatalf("log in as %s: %v", name, err)
	}
	return &inproc{t: t, name: name, st: st, svc: svc}
}

// send sends text, retrying for up to 30 s while the cluster is
// unavailable, and records the outcome.
func (c *inproc) send(room, text string) Send {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := Send{Client: c.name, Text: text, Invoke: time.Now()}
	m, err := c.svc.Send(ctx, names.Room(room), text)
	s.Return = time.Now()
	if err == nil {
		s.Outcome, s.ID, s.Revision = Sent, m.ID, m.Revision
	}
	return s
}

// read reads the whole room.
func (c *inproc) read(room string) Read {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.svc.History(ctx, names.Room(room), 0)
	if err != nil {
		c.t.Fatalf("%s: read %s: %v", c.name, room, err)
	}
	r := Read{Client: c.name, Warnings: p.Warnings}
	for _, m := range p.Messages {
		r.Messages = append(r.Messages, Message{ID: m.ID, Sender: m.Sender, Text: m.Text, Revision: m.Revision, Rejected: m.Rejected})
	}
	return r
}

// sendLoop sends "<client>-<n>" messages one after the other, pause apart,
// until ctx ends.
func (c *inproc) sendLoop(ctx context.Context, room string, pause time.Duration, rec *recorder) <-chan struct{} {
	done := make(chan struct{})
	// Runs before the connection is closed.
	c.t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for i := 1; ctx.Err() == nil; i++ {
			rec.add(c.send(room, fmt.Sprintf("%s-%05d", c.name, i)))
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
	return done
}

// setupInprocRoom creates room, owned by owner, with the others as
// members.
func setupInprocRoom(t *testing.T, room string, owner *inproc, others ...*inproc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := owner.svc.CreateRoom(ctx, names.Room(room)); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if err := o.svc.RequestJoin(ctx, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		if err := owner.svc.Approve(ctx, names.Room(room), o.name); err != nil {
			t.Fatal(err)
		}
	}
}
