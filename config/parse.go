package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/viper"
	yaml "go.yaml.in/yaml/v3"
)

// Option changes where Parse and Load look for what the file does not say.
type Option func(*options)

type options struct {
	environ []string
	envSet  bool
	rtDirs  []string
	source  string // the file's path, to name it in a YAML syntax error
}

// WithEnv takes the MULTIHOMED_* overrides from environ ("NAME=VALUE"
// entries, as os.Environ returns them) instead of the process environment.
// WithEnv(nil) means no overrides.
func WithEnv(environ []string) Option {
	return func(o *options) {
		o.environ = environ
		o.envSet = true
	}
}

// WithRTTablesDirs looks up table names in rt_tables and rt_tables.d/*.conf
// of dirs, in that order, instead of /etc/iproute2 and /usr/share/iproute2.
// Missing files are no error; with no dirs, only iproute2's built-in names
// (unspec, default, main, local) are known.
func WithRTTablesDirs(dirs ...string) Option {
	return func(o *options) { o.rtDirs = dirs }
}

// Load reads the file at path and parses it as Parse does. A file that
// cannot be read is one error naming the path, which errors.Is matches
// against fs.ErrNotExist and the like, ErrNotRegular (a FIFO, a device:
// refused without blocking or reading) and ErrTooLarge (more than
// MaxFileSize bytes).
func Load(path string, opts ...Option) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err) // an *fs.PathError: "open PATH: ..."
	}
	return Parse(data, append(opts, func(o *options) { o.source = path })...)
}

// Parse reads a YAML configuration, overlays the MULTIHOMED_* environment
// variables, applies the defaults and validates the result. It returns
// either a whole valid Config or nil and Problems naming every bad key (and
// every environment variable that addresses no key) at once.
//
// Keys are exactly as documented, in lower case: "FIB" is an unknown key,
// and so is "fib" given twice. The file holds one YAML document, at most
// MaxFileSize bytes, nested at most MaxDepth levels, with keys and values
// of at most MaxStringLen bytes; what breaks these rules is reported, all
// of it, before any value is looked at.
//
// The environment overrides the file: MULTIHOMED_ then the key path in upper
// case with "_" for each step down, a list element by its index:
// MULTIHOMED_FIB_RETAIN_ON_EXIT=true, MULTIHOMED_UPLINKS_0_TABLE=120,
// MULTIHOMED_BGP_LISTEN_PORT=-1, MULTIHOMED_UPLINKS_0_BGP_PEER_ASN=64500,
// MULTIHOMED_UPLINKS_1_GATEWAYS=192.0.2.1,2001:db8::1 (a list is
// comma-separated), MULTIHOMED_UPLINKS_0_BGP_IMPORT=all or
// MULTIHOMED_UPLINKS_0_BGP_IMPORT="0.0.0.0/0,198.18.0.0/15 le 24",
// MULTIHOMED_VIPS_0_CHECK_TARGET=127.0.0.1:8080,
// MULTIHOMED_VIPS_0_CHECK_COMMAND=/usr/local/bin/check,--port,8080 (a
// command and its arguments are a list too), MULTIHOMED_LAME_DUCK=2s.
// Because keys contain "_" themselves, the name is read
// against the known keys, taking at each level the longest run of words that
// is a key there. An index may address an existing element or the one just
// past the end, which is then added. An empty value overrides nothing.
func Parse(data []byte, opts ...Option) (*Config, error) {
	o := options{rtDirs: defaultRTTablesDirs}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.envSet {
		o.environ = os.Environ()
	}

	data = quoteFlowColons(data)
	// The shape of the document first: viper would lower-case the keys,
	// drop a second document and take long over deep nesting.
	if ps := checkRaw(data); len(ps) > 0 {
		for i := range ps {
			if ps[i].Key == "" {
				ps[i].Key = o.source
			}
		}
		return nil, ps
	}
	raw, err := readYAML(data)
	if err != nil {
		return nil, Problems{{Key: o.source, Msg: err.Error()}}
	}
	env, problems := overlayEnv(raw, o.environ)
	d := &decoder{bad: make(map[string]bool), env: env, tables: &rtTables{dirs: o.rtDirs}}
	c := d.config(raw)
	problems = append(problems, d.problems...)
	for _, p := range c.problems() {
		if !d.covers(p.Key) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return c, nil
}

// covers says whether key is, or is below, a key whose value could not be
// decoded.
func (d *decoder) covers(key string) bool {
	for {
		if d.bad[key] {
			return true
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return false
		}
		key = key[:i]
	}
}

// flowColon finds a plain value starting with "::" in a [ ] list, such as
// [0.0.0.0/0, ::/0]: YAML 1.2 allows it, but the parser viper uses does not,
// and says only "did not find expected node content".
var flowColon = regexp.MustCompile(`(?:^|[\s:\[])\[[ \t]*::|,[ \t]*::`)

// flowColonValue is a plain value starting with "::" right after the [ or
// the comma of a flow list, and what precedes it.
var flowColonValue = regexp.MustCompile(`([\[,][ \t]*)(::[^\s,\[\]{}#"']*)`)

// quoteFlowColons returns data with every plain value starting with "::"
// in a [ ] list quoted, when data is not YAML the parser takes as it is
// and is with them quoted: SPEC's own example, `import: [0.0.0.0/0,
// ::/0]`, is valid YAML 1.2 that yaml.v3 refuses. A document the parser
// takes is never changed, nor one the quoting does not mend (its error is
// then reported on the document as written); lines keep their numbers.
func quoteFlowColons(data []byte) []byte {
	if !flowColon.Match(data) {
		return data
	}
	var n yaml.Node
	err := yaml.Unmarshal(data, &n)
	if err == nil || !strings.Contains(err.Error(), "did not find expected node content") {
		return data
	}
	quoted := flowColonValue.ReplaceAll(data, []byte(`$1"$2"`))
	if yaml.Unmarshal(quoted, &n) != nil {
		return data
	}
	return quoted
}

// readYAML is the only use of viper: it reads the document into a raw map
// whose keys it lower-cases, as everything viper reads. Viper's "." key
// delimiter is replaced with one no key of ours holds, so that a key written
// as "fib.protocol" stays one unknown key instead of becoming fib's protocol.
func readYAML(data []byte) (map[string]any, error) {
	v := viper.NewWithOptions(viper.KeyDelimiter("\x00"))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var perr viper.ConfigParseError
		if errors.As(err, &perr) {
			err = perr.Unwrap()
		}
		// One line, as every problem is: yaml.v3 lists type errors on lines
		// of their own.
		msg := strings.Join(strings.Fields(err.Error()), " ")
		if strings.Contains(msg, "did not find expected node content") && flowColon.Match(data) {
			msg += ` (inside [ ], a value that starts with "::" must be quoted, as in [0.0.0.0/0, "::/0"])`
		}
		return nil, fmt.Errorf("invalid YAML: %s", msg)
	}
	return v.AllSettings(), nil
}
