package node_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// helperHomeEnv, when set, makes the test binary host the local member of
// the home it names instead of running tests (see runLocalHelper).
const helperHomeEnv = "NODE_TEST_LOCAL_HOME"

// takeoverWithin bounds how long a takeover may take in these tests.
const takeoverWithin = 10 * time.Second

func local(t *testing.T, home string) *node.Shared {
	t.Helper()
	s, err := node.Local(testContext(t, 20*time.Second), home, nil)
	if err != nil {
		t.Fatalf("Local: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Shared.Close: %v", err)
		}
	})
	return s
}

func waitHosting(t *testing.T, s *node.Shared) time.Duration {
	t.Helper()
	began := time.Now()
	for !s.Hosting() {
		if time.Since(began) > takeoverWithin {
			t.Fatalf("no takeover within %v", takeoverWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began)
}

func TestLocalTakeover(t *testing.T) {
	home := t.TempDir()
	began := time.Now()
	host := local(t, home)
	t.Logf("first Local (hosting) took %v", time.Since(began))
	guest := local(t, home)

	if !host.Hosting() || guest.Hosting() {
		t.Fatalf("Hosting = %v, %v; want true, false", host.Hosting(), guest.Hosting())
	}
	eps := guest.Endpoints()
	if fmt.Sprint(eps) != fmt.Sprint(host.Endpoints()) || len(eps) != 1 || !strings.HasPrefix(eps[0], "http://127.0.0.1:") {
		t.Fatalf("Endpoints = %v and %v", host.Endpoints(), eps)
	}
	dir := filepath.Join(home, "etcd")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v; want mode 0700", dir, fi, err)
	}
	for _, name := range []string{"lock", "endpoint", "etcd.log", "data"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}

	cli := newClient(t, eps)
	mustPut(t, cli, "before", "1")
	wch := cli.Watch(testContext(t, time.Minute), "after")

	began = time.Now()
	if err := host.Close(); err != nil {
		t.Fatalf("host Close: %v", err)
	}
	t.Logf("host Close took %v", time.Since(began))
	t.Logf("takeover took %v after the host closed", waitHosting(t, guest))

	if fmt.Sprint(guest.Endpoints()) != fmt.Sprint(eps) {
		t.Fatalf("Endpoints changed to %v", guest.Endpoints())
	}
	mustGet(t, cli, "before", "1")
	mustPut(t, cli, "after", "2")
	select {
	case resp := <-wch:
		if err := resp.Err(); err != nil || len(resp.Events) != 1 || string(resp.Events[0].Kv.Value) != "2" {
			t.Fatalf("watch across takeover: %+v, %v", resp, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch opened before the takeover saw nothing after it")
	}
}

func TestLocalRestartKeepsEndpointAndData(t *testing.T) {
	home := t.TempDir()
	s, err := node.Local(testContext(t, 20*time.Second), home, nil)
	if err != nil {
		t.Fatal(err)
	}
	eps := s.Endpoints()
	cli := newClient(t, eps)
	mustPut(t, cli, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = local(t, home)
	if !s.Hosting() || fmt.Sprint(s.Endpoints()) != fmt.Sprint(eps) {
		t.Fatalf("after restart: Hosting %v, Endpoints %v; want true, %v", s.Hosting(), s.Endpoints(), eps)
	}
	mustGet(t, cli, "k", "v")
}

func TestLocalRecordedPortTaken(t *testing.T) {
	home := t.TempDir()
	s, err := node.Local(testContext(t, 20*time.Second), home, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep := s.Endpoints()[0]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", strings.TrimPrefix(ep, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	_, err = node.Local(testContext(t, 20*time.Second), home, nil)
	if err == nil || !strings.Contains(err.Error(), ep) || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("Local = %v, want an error naming %s as taken", err, ep)
	}
}

// runLocalHelper hosts the local member of home in a process of its own:
// it prints "ready ENDPOINT HOSTING" once Local returns, then waits for
// its standard input to close and closes the member.
func runLocalHelper(home string) int {
	s, err := node.Local(context.Background(), home, nil)
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	fmt.Printf("ready %s %v\n", s.Endpoints()[0], s.Hosting())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	return 0
}

// startHelper starts runLocalHelper in a child process and returns the
// endpoint it reports.
func startHelper(t *testing.T, home string) (cmd *exec.Cmd, stdin io.WriteCloser, stderr *bytes.Buffer, endpoint string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperHomeEnv+"="+home)
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	stdin, err = cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var hosting bool
	if _, serr := fmt.Sscanf(line, "ready %s %t", &endpoint, &hosting); err != nil || serr != nil || !hosting {
		t.Fatalf("helper said %q (%v); stderr: %s", line, err, stderr)
	}
	return cmd, stdin, stderr, endpoint
}

func TestLocalTakeoverFromProcess(t *testing.T) {
	for _, exit := range []string{"close", "kill"} {
		t.Run(exit, func(t *testing.T) {
			home := t.TempDir()
			cmd, stdin, stderr, endpoint := startHelper(t, home)

			guest := local(t, home)
			if guest.Hosting() || guest.Endpoints()[0] != endpoint {
				t.Fatalf("guest: Hosting %v, Endpoints %v; want false, [%s]", guest.Hosting(), guest.Endpoints(), endpoint)
			}
			cli := newClient(t, guest.Endpoints())
			mustPut(t, cli, "k", exit)

			switch exit {
			case "close":
				stdin.Close()
				if err := cmd.Wait(); err != nil {
					t.Fatalf("helper: %v; stderr: %s", err, stderr)
				}
				// Nothing may reach the terminal on a normal shutdown.
				if stderr.Len() > 0 {
					t.Errorf("helper wrote to stderr:\n%s", stderr)
				}
			case "kill":
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()
			}
			t.Logf("takeover took %v", waitHosting(t, guest))
			mustGet(t, cli, "k", exit)
		})
	}
}

// TestLocalManyAtOnce starts several handles at the same moment: exactly
// one hosts, all agree on the endpoint.
func TestLocalManyAtOnce(t *testing.T) {
	home := t.TempDir()
	const n = 4
	type result struct {
		s   *node.Shared
		err error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			s, err := node.Local(testContext(t, 20*time.Second), home, nil)
			results <- result{s, err}
		}()
	}
	var hosts int
	var eps []string
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("Local: %v", r.err)
			continue
		}
		t.Cleanup(func() { r.s.Close() })
		if r.s.Hosting() {
			hosts++
		}
		eps = append(eps, r.s.Endpoints()[0])
	}
	if hosts != 1 {
		t.Errorf("%d handles host the member, want 1", hosts)
	}
	for _, ep := range eps {
		if ep != eps[0] {
			t.Errorf("endpoints differ: %v", eps)
			break
		}
	}
	if len(eps) > 0 {
		mustPut(t, newClient(t, eps[:1]), "k", "v")
	}
}
