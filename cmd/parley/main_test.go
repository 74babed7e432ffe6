package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/node"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"parley": func() {
			node.SilenceGRPCLogs()
			os.Exit(cli.Main(context.Background(), os.Args[1:], cli.ProcessEnv()))
		},
	})
}

// TestScripts runs each testdata/script/*.txtar against the parley binary,
// with its own home and its own real etcd member (PARLEY_ENDPOINTS), except
// scripts named embedded-*, which use parley's default local member.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PARLEY_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("NO_COLOR", "1")
			if strings.Contains(filepath.Base(env.WorkDir), "embedded-") {
				return nil
			}
			eps, stop, err := startMember(filepath.Join(env.WorkDir, ".etcd"))
			if err != nil {
				return err
			}
			env.Defer(func() {
				if err := stop(); err != nil {
					env.T().Log(err)
				}
			})
			env.Setenv("PARLEY_ENDPOINTS", eps)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"eventually": eventually,
			"sleep":      sleep,
			"lines":      lines,
			"envq":       envq,
			"exits":      exits,
			"freeport":   freeport,
			"grab":       grab,
		},
	})
}

// eventually PATTERN CMD ARGS... runs the command until its stdout matches
// PATTERN, for at most 20 seconds.
func eventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually PATTERN CMD ARGS...")
	}
	re := regexp.MustCompile(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		err := ts.Exec(args[1], args[2:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("%s: stdout never matched %q", args[1], args[0])
}

func startMember(dir string) (endpoints string, stop func() error, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		urls, err := node.FreeLoopbackURLs(2)
		if err != nil {
			return "", nil, err
		}
		d := filepath.Join(dir, fmt.Sprint(attempt))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := node.Start(ctx, node.Config{
			Name:             "script",
			DataDir:          filepath.Join(d, "data"),
			ListenClientURLs: []string{urls[0]},
			ListenPeerURLs:   []string{urls[1]},
			InitialCluster:   "script=" + urls[1],
			LogFile:          filepath.Join(d, "etcd.log"),
			UnsafeNoFsync:    true,
		}, nil)
		cancel()
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return urls[0], n.Close, nil
	}
	return "", nil, errors.New("no free ports for etcd")
}

// sleep DURATION pauses the script. Scripts use it only to give a background
// process time to print what cannot be observed before it is stopped.
func sleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d > time.Minute {
		ts.Fatalf("sleep: bad duration %q", args[0])
	}
	time.Sleep(d)
}

// lines SPEC... prints one line per SPEC to stdout; a SPEC of the form
// TEXTxN repeats TEXT N times on its line.
func lines(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: lines SPEC...")
	}
	for _, a := range args {
		text, n := a, 1
		if i := strings.LastIndex(a, "x"); i > 0 {
			if k, err := strconv.Atoi(a[i+1:]); err == nil {
				text, n = a[:i], k
			}
		}
		fmt.Fprintln(ts.Stdout(), strings.Repeat(text, n))
	}
}

// envq NAME TEXT sets the variable NAME to TEXT read as the inside of a Go
// string literal, so scripts can hold control characters: envq M 'a\x1b[2J'.
func envq(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envq NAME TEXT")
	}
	v, err := strconv.Unquote(`"` + args[1] + `"`)
	if err != nil {
		ts.Fatalf("envq: %q: %v", args[1], err)
	}
	ts.Setenv(args[0], v)
}

// exits CODE CMD ARGS... runs the command and fails unless it exits with
// CODE; its stdout and stderr are then checked as after exec.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE CMD ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// freeport VAR IP sets VAR to a port P such that P, P+1 and P+2 are free
// on IP: a machine's member serves clients, peers and invitations there.
// Loopback addresses other than 127.0.0.1 exist on Linux only: scripts
// that use them begin with [!linux] skip.
func freeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: freeport VAR IP")
	}
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(args[1], "0"))
		if err != nil {
			ts.Fatalf("freeport: cannot listen on %s: %v", args[1], err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := base+2 < 65536
		for i := 0; ok && i < 3; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort(args[1], strconv.Itoa(base+i)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			ts.Setenv(args[0], strconv.Itoa(base))
			return
		}
	}
	ts.Fatalf("freeport: no three free ports on %s", args[1])
}

// grab NAME REGEXP [FILE] sets the variable NAME to the first group of
// REGEXP's first match in the last command's stdout (or in FILE, which may
// be stderr): scripts take message ids from --json output
// (grab ID '"id":"([0-9a-f]{32})"').
func grab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: grab NAME REGEXP [FILE]")
	}
	from := "stdout"
	if len(args) == 3 {
		from = args[2]
	}
	re, err := regexp.Compile(args[1])
	if err != nil || re.NumSubexp() < 1 {
		ts.Fatalf("grab: %q needs a group", args[1])
	}
	m := re.FindStringSubmatch(ts.ReadFile(from))
	if m == nil {
		ts.Fatalf("grab: %s does not match %q", from, args[1])
	}
	ts.Setenv(args[0], m[1])
}
