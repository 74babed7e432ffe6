package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type pkgInfo struct {
	ImportPath string
	Doc        string
	Dir        string
	GoFiles    []string
	Export     string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T, args ...string) []pkgInfo {
	t.Helper()
	if len(args) == 0 {
		args = []string{"github.com/parley-chat/parley/..."}
	}
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, cmd.Stderr)
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
// out of every build but the tests', every package documented, and the
// front ends away from etcd: cli and tui import nothing of etcd (nor
// gRPC, its transport), and no expression in them has a type of etcd's,
// so that no API they use hands one out (cli administers the cluster
// through node.Admin, whose errors are store's).
func TestLayout(t *testing.T) {
	const mod = "github.com/parley-chat/parley/internal/"
	forbidden := map[string][]string{
		mod + "cli":      {"go.etcd.io/", "google.golang.org/grpc"},
		mod + "tui":      {"go.etcd.io/", "google.golang.org/grpc", mod + "store", mod + "node"},
		mod + "bench":    {"go.etcd.io/", mod + "node", mod + "cli", mod + "tui"},
		mod + "chat":     {"charm.land/", "go.etcd.io/etcd/client", "go.etcd.io/etcd/server", mod + "cli", mod + "tui", mod + "node"},
		mod + "store":    {mod + "chat", mod + "cli", mod + "tui", mod + "node", "charm.land/", "go.etcd.io/etcd/server"},
		mod + "node":     {mod + "chat", mod + "cli", mod + "tui", mod + "bench", "charm.land/"},
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
	for _, front := range []string{mod + "cli", mod + "tui"} {
		for _, bad := range etcdTypedExprs(t, front) {
			t.Errorf("%s reaches etcd's types: %s", front, bad)
		}
	}
}

// etcdTypedExprs type-checks the package path (its non-test files) and
// lists its expressions and names whose type is, or is made of, a type
// declared in an etcd package.
func etcdTypedExprs(t *testing.T, path string) []string {
	t.Helper()
	pkgs := listPackages(t, "-export", "-deps", path)
	exports := map[string]string{}
	var target *pkgInfo
	for i, p := range pkgs {
		exports[p.ImportPath] = p.Export
		if p.ImportPath == path {
			target = &pkgs[i]
		}
	}
	if target == nil || len(target.GoFiles) == 0 {
		t.Fatalf("go list found no Go files in %s", path)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range target.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(target.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(p string) (io.ReadCloser, error) {
		if exports[p] == "" {
			return nil, fmt.Errorf("no export data for %s", p)
		}
		return os.Open(exports[p])
	})
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{Importer: imp}).Check(path, fset, files, info); err != nil {
		t.Fatalf("type-check %s: %v", path, err)
	}
	var bad []string
	seen := map[string]bool{}
	add := func(pos token.Pos, what string, typ types.Type) {
		if typ == nil || !fromEtcd(typ, map[types.Type]bool{}) {
			return
		}
		s := fmt.Sprintf("%s: %s has type %s", fset.Position(pos), what, typ)
		if !seen[s] {
			seen[s] = true
			bad = append(bad, s)
		}
	}
	for e, tv := range info.Types {
		add(e.Pos(), types.ExprString(e), tv.Type)
	}
	for id, obj := range info.Defs {
		if obj != nil {
			add(id.Pos(), id.Name, obj.Type())
		}
	}
	for id, obj := range info.Uses {
		if obj.Pkg() != nil && strings.HasPrefix(obj.Pkg().Path(), "go.etcd.io/") {
			bad = append(bad, fmt.Sprintf("%s: %s is etcd's %s", fset.Position(id.Pos()), id.Name, obj.Pkg().Path()))
		}
		add(id.Pos(), id.Name, obj.Type())
	}
	slices.Sort(bad)
	return bad
}

// fromEtcd reports whether typ is a type declared in an etcd package or is
// built of one (a pointer to it, a slice of them, a function taking or
// returning one, ...). A named type of another package counts by its
// type arguments only: its fields are its own business.
func fromEtcd(typ types.Type, seen map[types.Type]bool) bool {
	if seen[typ] {
		return false
	}
	seen[typ] = true
	switch t := typ.(type) {
	case *types.Named:
		if p := t.Obj().Pkg(); p != nil && strings.HasPrefix(p.Path(), "go.etcd.io/") {
			return true
		}
		for a := range t.TypeArgs().Types() {
			if fromEtcd(a, seen) {
				return true
			}
		}
	case *types.Alias:
		if p := t.Obj().Pkg(); p != nil && strings.HasPrefix(p.Path(), "go.etcd.io/") {
			return true
		}
		return fromEtcd(types.Unalias(t), seen)
	case *types.Pointer:
		return fromEtcd(t.Elem(), seen)
	case *types.Slice:
		return fromEtcd(t.Elem(), seen)
	case *types.Array:
		return fromEtcd(t.Elem(), seen)
	case *types.Chan:
		return fromEtcd(t.Elem(), seen)
	case *types.Map:
		return fromEtcd(t.Key(), seen) || fromEtcd(t.Elem(), seen)
	case *types.Tuple:
		for v := range t.Variables() {
			if fromEtcd(v.Type(), seen) {
				return true
			}
		}
	case *types.Signature:
		return fromEtcd(t.Params(), seen) || fromEtcd(t.Results(), seen)
	case *types.Struct:
		for f := range t.Fields() {
			if fromEtcd(f.Type(), seen) {
				return true
			}
		}
	}
	return false
}
