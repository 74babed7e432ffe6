package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkgInfo struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "github.com/parley-chat/parley/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestLayout keeps each heavy dependency with its one owner, the test kit
// out of every build but the tests', and every package documented.
func TestLayout(t *testing.T) {
	const mod = "github.com/parley-chat/parley/internal/"
	forbidden := map[string][]string{
		mod + "tui":      {"go.etcd.io/etcd", mod + "store", mod + "node"},
		mod + "chat":     {"charm.land/", "go.etcd.io/etcd/client", "go.etcd.io/etcd/server", mod + "cli", mod + "tui", mod + "node"},
		mod + "store":    {mod + "chat", mod + "cli", mod + "tui", "charm.land/", "go.etcd.io/etcd/server"},
		mod + "crypto":   {"go.etcd.io/etcd", mod + "store", "os", "net"},
		mod + "names":    {"go.etcd.io/etcd", mod},
		mod + "termtext": {"go.etcd.io/etcd", "charm.land/", mod},
		mod + "fsutil":   {"go.etcd.io/etcd", "charm.land/", mod},
		mod + "testkit":  {"go.etcd.io/etcd", "charm.land/", mod},
	}
	owners := map[string][]string{
		"go.etcd.io/etcd/client/v3":       {mod + "store", mod + "node"},
		"go.etcd.io/etcd/server/v3/embed": {mod + "node"},
		"charm.land/bubbletea/v2":         {mod + "tui"},
	}
	for _, p := range listPackages(t) {
		if p.Doc == "" && !strings.HasSuffix(p.ImportPath, "/cmd/parley") {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
		if bad, ok := forbidden[p.ImportPath]; ok {
			for _, d := range p.Imports {
				for _, b := range bad {
					if d == b || strings.HasPrefix(d, b) && (strings.HasSuffix(b, "/") || strings.HasPrefix(d, b+"/")) {
						t.Errorf("%s depends on %s", p.ImportPath, d)
					}
				}
			}
		}
		for _, d := range p.Imports {
			if d == mod+"testkit" {
				t.Errorf("%s imports %s, which is for tests only", p.ImportPath, d)
			}
		}
		for dep, who := range owners {
			for _, imp := range p.Imports {
				if imp != dep {
					continue
				}
				ok := false
				for _, w := range who {
					if p.ImportPath == w || strings.HasPrefix(p.ImportPath, w+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s, which only %v may import", p.ImportPath, dep, who)
				}
			}
		}
	}
}
