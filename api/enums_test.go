package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
)

// TestEnumMaps checks every table of enums.go against the list of its Go
// type's constants: each maps to an enum value of its own, not
// UNSPECIFIED, and back to itself, and EnumName names it so; each enum
// value but UNSPECIFIED is some constant's. The list itself is checked
// against the constants the package's source declares: a constant added
// to a Go type without a pair here fails it, All list or not.
func TestEnumMaps(t *testing.T) {
	t.Run("EventKind", func(t *testing.T) {
		checkEnumMap(t, eventKinds, control.AllEventKinds(), "../daemon/control", "EventKind")
	})
	t.Run("RouteOrigin", func(t *testing.T) {
		checkEnumMap(t, routeOrigins, control.AllRouteOrigins(), "../daemon/control", "RouteOrigin")
	})
	t.Run("PolicyReason", func(t *testing.T) { checkEnumMap(t, policyReasons, policy.AllReasons(), "../policy", "Reason") })
	t.Run("TrackReason", func(t *testing.T) {
		checkEnumMap(t, trackReasons, policy.AllTrackReasons(), "../policy", "TrackReason")
	})
	t.Run("VIPReason", func(t *testing.T) { checkEnumMap(t, vipReasons, policy.AllVIPReasons(), "../policy", "VIPReason") })
	t.Run("BalanceReason", func(t *testing.T) {
		checkEnumMap(t, balanceReasons, balance.AllReasons(), "../balance", "Reason")
	})
	if len(enumNames) != 6 {
		t.Errorf("enumNames has %d enums, want the 6 above", len(enumNames))
	}
}

func checkEnumMap[G ~string, P protoEnum](t *testing.T, m enumMap[G, P], all []G, dir, typ string) {
	t.Helper()
	if declared := declaredConstants(t, dir, typ); len(declared) != len(all) {
		t.Errorf("%s declares %d constants of type %s %v, its All list has %d %q", dir, len(declared), typ, declared, len(all), all)
	}
	var zero P
	seen := map[P]G{}
	numbers := map[protoreflect.EnumNumber]bool{}
	for _, g := range all {
		p := m.proto(g)
		if p == zero {
			t.Errorf("%q: no enum value (UNSPECIFIED)", g)
			continue
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%q and %q: both %v", other, g, p)
		}
		seen[p] = g
		numbers[p.Number()] = true
		if back := m.goValue(p); back != g {
			t.Errorf("%q: %v maps back to %q", g, p, back)
		}
		if name, ok := EnumName(p.Descriptor(), p.Number()); !ok || name != string(g) {
			t.Errorf("EnumName(%v) = %q, %v; want %q", p, name, ok, g)
		}
	}
	if len(m.toProto) != len(all) {
		t.Errorf("the table pairs %d Go values, the Go type has %d constants", len(m.toProto), len(all))
	}
	values := zero.Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		if !numbers[v.Number()] && v.Number() != 0 {
			t.Errorf("%s: no Go value", v.Name())
		}
	}
	if got := m.goValue(zero); got != "" {
		t.Errorf("UNSPECIFIED maps to %q, want none", got)
	}
	if _, ok := EnumName(zero.Descriptor(), 0); ok {
		t.Error("EnumName names UNSPECIFIED")
	}
}

// declaredConstants are the names of the constants of type typ that the
// package in dir declares, as `X typ = ...` or `X = typ(...)`.
func declaredConstants(t *testing.T, dir, typ string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if isIdent(vs.Type, typ) || (len(vs.Values) == 1 && isConversion(vs.Values[0], typ)) {
					for _, n := range vs.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isConversion(e ast.Expr, typ string) bool {
	call, ok := e.(*ast.CallExpr)
	return ok && isIdent(call.Fun, typ)
}
