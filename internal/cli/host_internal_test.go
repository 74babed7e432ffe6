package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolveAddr(t *testing.T) {
	for _, tc := range []struct {
		listen, advertise string
		ip                string
		port              int
		adv               []string
	}{
		{"127.0.0.2", "", "127.0.0.2", 2379, []string{"127.0.0.2"}},
		{"127.0.0.2:3000", "", "127.0.0.2", 3000, []string{"127.0.0.2"}},
		{":3000", "10.0.0.1,chat.example.org", "0.0.0.0", 3000, []string{"10.0.0.1", "chat.example.org"}},
		{"", "fd00::2", "::", 2379, []string{"fd00::2"}},
		{"0.0.0.0", "fd00::2", "0.0.0.0", 2379, []string{"fd00::2"}},
	} {
		ma, err := resolveAddr(tc.listen, tc.advertise)
		if err != nil || ma.listenIP != tc.ip || ma.basePort != tc.port || !slices.Equal(ma.advertise, tc.adv) {
			t.Errorf("resolveAddr(%q, %q) = %+v, %v; want %s port %d advertising %v", tc.listen, tc.advertise, ma, err, tc.ip, tc.port, tc.adv)
		}
	}
	for _, bad := range [][2]string{{"host.example", ""}, {"1.2.3.4:0", ""}, {"", "0.0.0.0"}, {"", "a/b"}} {
		if _, err := resolveAddr(bad[0], bad[1]); err == nil {
			t.Errorf("resolveAddr(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestClusterFilePrecedence: the home's cluster file gives the endpoints
// and TLS files unless a PARLEY_* variable or a flag gives them.
func TestClusterFilePrecedence(t *testing.T) {
	home := t.TempDir()
	hc := &homeCluster{Cluster: "c", Name: "m", Role: "client", Endpoints: []string{"https://10.0.0.1:2379"}}
	if err := hc.save(home); err != nil {
		t.Fatal(err)
	}
	run := func(env map[string]string, args ...string) Config {
		var out bytes.Buffer
		a := &App{env: &Env{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }}}
		root := a.rootCommand()
		root.SetArgs(append([]string{"--home", home}, append(args, "cluster")...))
		root.SetOut(&out)
		root.SetErr(&out)
		_ = root.ExecuteContext(context.Background()) // cluster needs a subcommand
		return a.cfg
	}
	f := run(nil)
	if !slices.Equal(f.Endpoints, hc.Endpoints) || f.CACert != filepath.Join(home, "cluster", "ca.pem") || f.Cert != filepath.Join(home, "cluster", "cert.pem") || f.Key != filepath.Join(home, "cluster", "key.pem") {
		t.Errorf("from the file: %+v", f)
	}
	e := run(map[string]string{"PARLEY_ENDPOINTS": "https://10.0.0.2:2379", "PARLEY_CACERT": "env.pem"})
	if !slices.Equal(e.Endpoints, []string{"https://10.0.0.2:2379"}) || e.CACert != "env.pem" || e.Cert != f.Cert {
		t.Errorf("from the environment: %+v", e)
	}
	g := run(map[string]string{"PARLEY_ENDPOINTS": "https://10.0.0.2:2379"}, "--endpoints", "https://10.0.0.3:2379", "--cacert", "flag.pem")
	if !slices.Equal(g.Endpoints, []string{"https://10.0.0.3:2379"}) || g.CACert != "flag.pem" {
		t.Errorf("from the flags: %+v", g)
	}
}
