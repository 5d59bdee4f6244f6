package config

import "strings"

// Problem is one thing wrong with a configuration, named by the key it is
// about: a path such as "uplinks[1].table", or for an environment variable
// that addresses no key, the variable's name.
type Problem struct {
	Key string
	Msg string
}

// Error returns "key: msg", or msg alone for a problem that concerns the
// file as a whole (it is not valid YAML).
func (p Problem) Error() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Problems is every Problem of a configuration. Parse, Load and Validate
// return it as their error, so that callers can list the problems one per
// line or get at them with errors.As.
type Problems []Problem

// Error returns the problems one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each Problem, so that errors.As can also find the first
// one as a Problem.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// err returns ps as an error, nil (untyped) when there are none.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
