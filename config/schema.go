package config

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is what a key holds, as far as reading the file and the environment
// cares.
type kind int

const (
	scalar      kind = iota // a string, number, bool or duration
	scalarList              // a list of scalars; comma-separated in the environment
	mapping                 // keys of its own
	mappingList             // a list of mappings
)

// node describes the keys the configuration may hold. It is the one list of
// known keys: unknown-key detection in the file and name resolution in the
// environment both read it.
type node struct {
	kind   kind
	fields []field // of a mapping
	elem   *node   // of a mappingList: a mapping
}

type field struct {
	name string
	*node
}

var (
	leaf       = &node{kind: scalar}
	leafList   = &node{kind: scalarList}
	apiTLSNode = &node{kind: mapping, fields: []field{{"cert", leaf}, {"key", leaf}, {"client_ca", leaf}}}
	apiNode    = &node{kind: mapping, fields: []field{{"listen", leaf}, {"group", leaf}, {"tls", apiTLSNode}, {"allow_exec", leaf}}}
	fibNode    = &node{kind: mapping, fields: []field{{"retain_on_exit", leaf}, {"protocol", leaf}, {"resync_interval", leaf}}}
	bgpNode    = &node{kind: mapping, fields: []field{{"listen_port", leaf}, {"restart_time", leaf}}}
	// uplinkBGPNode's import is a scalarList: a list of rules, or the
	// string "all" (or a comma-separated list, as the environment has it).
	uplinkBGPNode = &node{kind: mapping, fields: []field{
		{"peer", leaf},
		{"peer_asn", leaf},
		{"password", leaf},
		{"hold_time", leaf},
		{"connect_retry", leaf},
		{"multihop", leaf},
		{"passive", leaf},
		{"import", leafList},
		{"max_prefixes", leaf},
	}}
	uplinkNode = &node{kind: mapping, fields: []field{
		{"name", leaf},
		{"interface", leaf},
		{"table", leaf},
		{"rule_priority", leaf},
		{"priority", leaf},
		{"weight", leaf},
		{"gateways", leafList},
		{"bgp", uplinkBGPNode},
		{"bfd", uplinkBFDNode},
		{"track", trackNode},
	}}
	uplinksNode = &node{kind: mappingList, elem: uplinkNode}
	// checkNode's command, as the other lists, is comma-separated in the
	// environment.
	checkNode = &node{kind: mapping, fields: []field{
		{"type", leaf},
		{"target", leaf},
		{"path", leaf},
		{"host", leaf},
		{"expect_status", leaf},
		{"expect_body", leaf},
		{"command", leafList},
		{"interval", leaf},
		{"timeout", leaf},
		{"rise", leaf},
		{"fall", leaf},
		{"source", leaf},
	}}
	dampeningNode = &node{kind: mapping, fields: []field{
		{"enabled", leaf},
		{"half_life", leaf},
		{"penalty", leaf},
		{"suppress", leaf},
		{"reuse", leaf},
		{"max_penalty", leaf},
	}}
	vipNode = &node{kind: mapping, fields: []field{
		{"prefix", leaf},
		{"uplinks", leafList},
		{"check", checkNode},
		{"role", leaf},
		{"prepend", leaf},
		{"med", leaf},
		{"communities", leafList},
		{"large_communities", leafList},
		{"mode", leaf},
		{"address", &node{kind: mapping, fields: []field{{"interface", leaf}}}},
		{"notify", leafList},
		{"notify_timeout", leaf},
		{"dampening", dampeningNode},
	}}
	metricsNode = &node{kind: mapping, fields: []field{{"listen", leaf}}}
	pairNode    = &node{kind: mapping, fields: []field{{"peer", leaf}, {"asn", leaf}, {"password", leaf}}}
	schema      = &node{kind: mapping, fields: []field{
		{"asn", leaf},
		{"router_id", leaf},
		{"api", apiNode},
		{"fib", fibNode},
		{"main_default", leaf},
		{"bgp", bgpNode},
		{"uplinks", uplinksNode},
		{"vips", &node{kind: mappingList, elem: vipNode}},
		{"lame_duck", leaf},
		{"pair", pairNode},
		{"metrics", metricsNode},
		{"balance", balanceNode},
	}}
)

// field returns the node of the key name, nil when n has no such key.
func (n *node) field(name string) *node {
	for _, f := range n.fields {
		if f.name == name {
			return f.node
		}
	}
	return nil
}

// suggest is the key of n that name was probably meant as: the same key in
// another case, else the one closest to it when a typo or two away (a
// letter wrong, missing, extra, or two swapped); "" when none is that close
// or n has no keys.
func (n *node) suggest(name string) string {
	if n == nil {
		return ""
	}
	lower := strings.ToLower(name)
	best, bestDist := "", 0
	for _, f := range n.fields {
		if f.name == lower {
			return f.name
		}
		d := editDistance(lower, f.name)
		limit := 2
		if len(f.name) <= 4 {
			limit = 1
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = f.name, d
		}
	}
	return best
}

// didYouMean is the hint an unknown key's problem ends with.
func didYouMean(known string) string {
	if known == "" {
		return ""
	}
	return " (did you mean " + known + "?)"
}

// editDistance is the optimal string alignment distance of a and b, in
// bytes (keys are ASCII): insertions, deletions, substitutions and swaps
// of neighbours cost 1. Keys are short, and a key longer than MaxStringLen
// never gets here (checkRaw refuses it first; decode's keys are the same).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// join and index build the key paths that problems are named by:
// "uplinks[1].table".
func join(path, key string) string {
	if key == "" || !isPlainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// isPlainKey says whether a key can be shown unquoted in a path without
// being mistaken for more than one key.
func isPlainKey(key string) bool {
	for _, r := range key {
		if r == '.' || r == '[' || r == ']' || r == '"' || r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
