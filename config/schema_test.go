package config

import "testing"

// TestSuggest: a key in another case, or a typo or two away, names the key
// meant; a short key takes one typo, not two; nothing close, nothing.
func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		n          *node
		name, want string
	}{
		{schema, "Main_Default", "main_default"},
		{schema, "UPLINKS", "uplinks"},
		{schema, "main_defualt", "main_default"},
		{schema, "maindefault", "main_default"},
		{schema, "asm", "asn"},
		{schema, "Api", "api"},
		{schema, "colour", ""},
		{schema, "xyz", ""},
		{uplinkNode, "tabel", "table"},
		{uplinkNode, "gateway", "gateways"},
		{uplinkBGPNode, "peer_as", "peer_asn"},
		{vipNode, "rise", ""},
		{leaf, "x", ""},
		{nil, "x", ""},
	} {
		if got := tc.n.suggest(tc.name); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"tabel", "table", 1},
		{"protocl", "protocol", 1},
		{"rise", "role", 2},
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}
