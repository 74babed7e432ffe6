package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// A cluster with etcd's authentication enabled: a user whose role may
// read and write under parley's prefix chats; a wrong password, a user
// without that role and no user at all are refused (exit 4) with a hint.
func TestEtcdAuth(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	admin, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	steps := []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "root-secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "parley"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "parley", store.Prefix, clientv3.GetPrefixRangeEnd(store.Prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "chat", "chat-secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "chat", "parley"); return err },
		func() error { _, err := admin.UserAdd(ctx, "nobody", "nobody-secret"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}

	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir(), "PARLEY_ETCD_USER": "chat", "PARLEY_ETCD_PASSWORD": "chat-secret"}
	for _, args := range [][]string{
		{"--user", "alice", "create", "locked"},
		{"--user", "alice", "send", "locked", "behind a password"},
	} {
		if code, stderr := run(t, ctx, env, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	var out bytes.Buffer
	if code, stderr := run(t, ctx, env, &out, "--etcd-user", "chat:chat-secret", "--user", "alice", "read", "locked"); code != 0 || !strings.Contains(out.String(), "behind a password") {
		t.Fatalf("read with USER:PASSWORD: exit %d, %q: %s", code, out.String(), stderr)
	}

	for _, tt := range []struct {
		name, user, password, want string
	}{
		{"wrong password", "chat", "guess", "authentication failed"},
		{"no role", "nobody", "nobody-secret", "permission denied"},
		{"no user", "", "", "user name is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// An encrypted keystore: its creation prints no warning.
			env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir(), "PARLEY_ETCD_USER": tt.user, "PARLEY_ETCD_PASSWORD": tt.password, "PARLEY_PASSPHRASE": "secret"}
			code, stderr := run(t, ctx, env, nil, "--user", "bob", "rooms")
			if code != cli.ExitRefused || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "hint: check --etcd-user") {
				t.Fatalf("exit %d, stderr %q; want %d, %q and the hint", code, stderr, cli.ExitRefused, tt.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Fatalf("more than an error and a hint: %q", stderr)
			}
		})
	}

	home := t.TempDir()
	code, stderr := run(t, ctx, map[string]string{"PARLEY_HOME": home}, nil, "--etcd-user", "chat", "--user", "bob", "rooms")
	if code != cli.ExitUsage || !strings.Contains(stderr, "--endpoints") {
		t.Fatalf("--etcd-user without endpoints: exit %d, %q", code, stderr)
	}
}
