package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// runOut runs parley and returns its exit code, stdout and stderr.
func runOut(t *testing.T, ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(ctx, args, &cli.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

func safetyCode(t *testing.T, ctx context.Context, env map[string]string, user string) (code, fp string) {
	t.Helper()
	c, out, errs := runOut(t, ctx, env, "verify", user, "--json")
	if c != 0 {
		t.Fatalf("verify %s: exit %d: %s", user, c, errs)
	}
	var v struct {
		Code        string `json:"safety_code"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return v.Code, v.Fingerprint
}

// TestChangedKeyRegression plays someone with raw write access to etcd who
// replaces bob's user record with keys of their own. alice's home, which
// verified bob, refuses the new key, says whose key changed and what to
// do; parley trust --accept replaces the pin and drops the mark; both
// sides then see the same safety code over the new key.
func TestChangedKeyRegression(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	base := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_PASSPHRASE": "secret"}
	as := withEnv(base, "PARLEY_HOME", t.TempDir(), "PARLEY_USER", "alice")
	bs := withEnv(base, "PARLEY_HOME", t.TempDir(), "PARLEY_USER", "bob")
	mustRun(t, ctx, as, "create", "r")
	mustRun(t, ctx, bs, "join", "r")
	mustRun(t, ctx, as, "approve", "r", "bob")

	code, fp := safetyCode(t, ctx, as, "bob")
	if bcode, _ := safetyCode(t, ctx, bs, "alice"); bcode != code {
		t.Fatalf("alice sees %s, bob sees %s", code, bcode)
	}
	mustRun(t, ctx, as, "verify", "bob", "--mark")

	raw, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Delete(ctx, store.Prefix+"users/bob"); err != nil {
		t.Fatal(err)
	}
	mallory := withEnv(base, "PARLEY_HOME", t.TempDir(), "PARLEY_USER", "bob")
	mustRun(t, ctx, mallory, "whoami")

	for _, args := range [][]string{{"verify", "bob"}, {"dm", "bob"}, {"verify", "bob", "--mark"}} {
		c, out, errs := runOut(t, ctx, as, args...)
		if c != cli.ExitRefused || out != "" ||
			!strings.Contains(errs, "the key stored for bob in etcd is not the one this home pinned (pinned "+fp+", etcd now holds parley1-") ||
			!strings.Contains(errs, "parley: hint: either bob replaced their keys or someone with write access to etcd did: see both with parley trust bob") {
			t.Fatalf("%v after bob's record changed: exit %d, stdout %q, stderr %q", args, c, out, errs)
		}
	}
	c, out, errs := runOut(t, ctx, as, "trust", "bob")
	if c != 0 || !strings.Contains(out, "  pinned   "+fp+"  (was verified)") || !strings.Contains(out, "parley trust bob --accept") {
		t.Fatalf("trust bob: exit %d: %s%s", c, out, errs)
	}
	if _, out, _ := runOut(t, ctx, as, "members", "r"); !strings.Contains(out, "bob (approved by alice, verified)") {
		t.Fatalf("bob lost his mark before anything was accepted:\n%s", out)
	}
	mustRun(t, ctx, as, "trust", "bob", "--accept")
	newCode, newFP := safetyCode(t, ctx, as, "bob")
	if newFP == fp || newCode == code {
		t.Fatal("the code or fingerprint did not change with the key")
	}
	if mcode, _ := safetyCode(t, ctx, mallory, "alice"); mcode != newCode {
		t.Fatalf("alice sees %s, the new bob sees %s", newCode, mcode)
	}
	_, out, _ = runOut(t, ctx, as, "users")
	if !strings.Contains(out, "bob    "+newFP+"\n") {
		t.Fatalf("users after accepting:\n%s", out)
	}
	// The room admitted the old key: it keeps it, and the mark is gone.
	_, out, _ = runOut(t, ctx, as, "members", "r", "--json")
	if !strings.Contains(out, `"user":"bob"`) || !strings.Contains(out, `"fingerprint":"`+fp+`","verified":false`) {
		t.Fatalf("members after accepting:\n%s", out)
	}
}

// In a terminal, verify asks whether the codes match; only y marks.
func TestVerifyAsksInATerminal(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir(), "PARLEY_PASSPHRASE": "secret"}
	mustRun(t, ctx, env, "--user", "bob", "whoami")
	for _, tt := range []struct {
		answer, want string
		verified     bool
	}{
		{"\n", "bob is not marked verified.", false},
		{"no\n", "bob is not marked verified.", false},
		{"", "bob is not marked verified.", false}, // end of input
		{"Y\n", "bob is marked verified.", true},
	} {
		var out, errb bytes.Buffer
		code := cli.Main(ctx, []string{"--user", "alice", "verify", "bob"}, &cli.Env{
			Stdin: strings.NewReader(tt.answer), Stdout: &out, Stderr: &errb, StdinIsTerminal: true,
			Getenv: func(k string) string { return env[k] },
		})
		if code != 0 || !strings.Contains(out.String(), tt.want) || !strings.Contains(errb.String(), "Does bob see the same code? Mark bob verified [y/N]: ") {
			t.Fatalf("answer %q: exit %d, stdout %q, stderr %q", tt.answer, code, out.String(), errb.String())
		}
		_, users, _ := runOut(t, ctx, env, "--user", "alice", "users")
		if got := strings.Contains(users, "verified"); got != tt.verified {
			t.Fatalf("answer %q: users shows verified %v, want %v:\n%s", tt.answer, got, tt.verified, users)
		}
	}
	// Once verified, it does not ask again.
	var out, errb bytes.Buffer
	cli.Main(ctx, []string{"--user", "alice", "verify", "bob"}, &cli.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdinIsTerminal: true,
		Getenv: func(k string) string { return env[k] },
	})
	if strings.Contains(errb.String(), "[y/N]") || !strings.Contains(out.String(), "bob is marked verified with this key.") {
		t.Fatalf("verify of a verified user: %q, %q", out.String(), errb.String())
	}
}
