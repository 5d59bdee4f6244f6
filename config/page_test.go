package config

import (
	"os"
	"strings"
	"testing"
)

// configPage is the source of the man page multihomed.yaml(5).
const configPage = "../docs/multihomed.yaml.5.md"

// TestConfigPageKeys: multihomed.yaml(5) documents every key of the schema,
// as its full path in bold (**uplinks[].bgp.peer_asn**). The keys come from
// the schema itself, so that a key added without its documentation fails
// here.
func TestConfigPageKeys(t *testing.T) {
	b, err := os.ReadFile(configPage)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	keys := schemaKeys("", schema)
	if len(keys) < 50 {
		t.Fatalf("only %d keys found in the schema: %q", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(page, "**"+k+"**") {
			t.Errorf("%s: not in %s (write it as **%s**)", k, configPage, k)
		}
	}
}

// schemaKeys lists the keys below n, which is found at path, as the page
// writes them: a list's elements as [].
func schemaKeys(path string, n *node) []string {
	var keys []string
	for _, f := range n.fields {
		p := f.name
		if path != "" {
			p = path + "." + f.name
		}
		keys = append(keys, p)
		switch f.kind {
		case mapping:
			keys = append(keys, schemaKeys(p, f.node)...)
		case mappingList:
			keys = append(keys, schemaKeys(p+"[]", f.elem)...)
		}
	}
	return keys
}
