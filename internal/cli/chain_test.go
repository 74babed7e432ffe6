package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestChainOneWriterAcrossProcessesRegression runs two processes sending
// as one user into one room at once (two `parley send -` streams sharing a
// home): they take turns at the chain head kept in the home, so no
// sequence number is used twice and readers see no fork.
func TestChainOneWriterAcrossProcessesRegression(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if code, stderr := run(t, ctx, env, nil, "--user", "alice", "create", "r"); code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	const perStream = 40
	var wg sync.WaitGroup
	for p := range 2 {
		var lines strings.Builder
		for i := range perStream {
			fmt.Fprintf(&lines, "process %d line %d\n", p, i)
		}
		wg.Go(func() {
			var stderr bytes.Buffer
			code := cli.Main(ctx, []string{"--user", "alice", "send", "r", "-"}, &cli.Env{
				Stdin: strings.NewReader(lines.String()), Stdout: &bytes.Buffer{}, Stderr: &stderr,
				Getenv: func(k string) string { return env[k] },
			})
			if code != 0 {
				t.Errorf("send - (process %d): exit %d: %s", p, code, stderr.String())
			}
		})
	}
	wg.Wait()
	var out bytes.Buffer
	if code, stderr := run(t, ctx, env, &out, "--user", "alice", "read", "r", "--limit", "0", "--json"); code != 0 {
		t.Fatalf("read: %d %s", code, stderr)
	}
	seqs := make(map[float64]int)
	n := 0
	dec := json.NewDecoder(&out)
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if seq, ok := x["seq"].(float64); ok && x["sender"] == "alice" {
					seqs[seq]++
					n++
				}
				if w, ok := x["warnings"].([]any); ok && len(w) > 0 {
					t.Errorf("warnings: %v", w)
				}
				for _, y := range x {
					walk(y)
				}
			case []any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		walk(v)
	}
	if n != 2*perStream {
		t.Fatalf("read %d messages, want %d", n, 2*perStream)
	}
	for seq, c := range seqs {
		if c > 1 {
			t.Errorf("sequence number %v used %d times", seq, c)
		}
	}
	for i := 1; i <= 2*perStream; i++ {
		if seqs[float64(i)] != 1 {
			t.Errorf("sequence number %d used %d times", i, seqs[float64(i)])
		}
	}
}
