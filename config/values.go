package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The parsers and checks of single values, which the file's decoder and
// Validate use, and the control API too: a value accepted in the file is
// accepted over the API, and one refused is refused with the same words.
// Their errors say what is wrong with the value, without naming a key:
// the caller knows which key or request field it came from.

const (
	// maxInterfaceName is IFNAMSIZ-1: the kernel's name buffer holds a NUL.
	maxInterfaceName = 15
)

// uplinkName is what an uplink's name is made of: it names the uplink in
// keys, logs and metrics' labels, and cannot clash with the daemon's own
// names (which have a character outside it).
var uplinkName = regexp.MustCompile(`^[a-z0-9-]+$`)

// vipPrefixHint says how to write a VIP.
const vipPrefixHint = "the VIP as 203.0.113.10/32 or 2001:db8::10/128"

// errVIPPrefixRequired is the error of a VIP without a prefix.
var errVIPPrefixRequired = errors.New("required: " + vipPrefixHint)

// ParseVIPPrefix parses a VIP's prefix, or its bare address as its host
// prefix. Whether the prefix is a host prefix is Validate's to say.
func ParseVIPPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errVIPPrefixRequired
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a prefix: write %s", s, vipPrefixHint)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix: write %s", s, vipPrefixHint)
	case a.Zone() != "":
		return netip.Prefix{}, fmt.Errorf("%q has a zone: a VIP has none", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseAddr parses an IP address.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// ParseCheckTarget parses the ADDRESS:PORT a tcp or http check connects
// to.
func ParseCheckTarget(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDRESS:PORT: an IP address (IPv6 in brackets, as [2001:db8::1]:80) and a port", s)
	}
	return ap, nil
}

// wellKnownCommunities are RFC 1997's, by the names a VIP may give them
// (in any case), in the order FormatCommunity looks for them.
var wellKnownCommunities = []struct {
	name  string
	value uint32
}{
	{"no-export", 0xFFFFFF01},
	{"no-advertise", 0xFFFFFF02},
	{"no-export-subconfed", 0xFFFFFF03},
}

// ParseCommunity parses a standard community: ASN:VALUE (both 0..65535),
// or a well-known community by its name, in any case (no-export).
func ParseCommunity(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	for _, w := range wellKnownCommunities {
		if strings.EqualFold(s, w.name) {
			return w.value, nil
		}
	}
	n, ok := splitNumbers(s, 2, math.MaxUint16)
	if !ok {
		return 0, fmt.Errorf("%q is not a community: write ASN:VALUE, both 0..65535 (65010:100), or no-export, no-advertise, no-export-subconfed", s)
	}
	return n[0]<<16 | n[1], nil
}

// FormatCommunity writes a standard community as ParseCommunity reads it:
// a well-known one by its name.
func FormatCommunity(c uint32) string {
	for _, w := range wellKnownCommunities {
		if c == w.value {
			return w.name
		}
	}
	return fmt.Sprintf("%d:%d", c>>16, c&0xFFFF)
}

// ParseLargeCommunity parses an RFC 8092 community: ASN:DATA1:DATA2, each
// 0..4294967295.
func ParseLargeCommunity(s string) ([3]uint32, error) {
	s = strings.TrimSpace(s)
	n, ok := splitNumbers(s, 3, math.MaxUint32)
	if !ok {
		return [3]uint32{}, fmt.Errorf("%q is not a large community: write ASN:DATA1:DATA2, each 0..4294967295 (65010:1:2)", s)
	}
	return [3]uint32{n[0], n[1], n[2]}, nil
}

// FormatLargeCommunity writes a large community as ParseLargeCommunity
// reads it.
func FormatLargeCommunity(c [3]uint32) string {
	return fmt.Sprintf("%d:%d:%d", c[0], c[1], c[2])
}

// splitNumbers splits s at ":" into exactly n decimal numbers of at most
// hi each.
func splitNumbers(s string, n int, hi uint64) ([]uint32, bool) {
	f := strings.Split(s, ":")
	if len(f) != n {
		return nil, false
	}
	out := make([]uint32, n)
	for i, x := range f {
		if !isDecimal(x) {
			return nil, false
		}
		u, err := strconv.ParseUint(x, 10, 64)
		if err != nil || u > hi {
			return nil, false
		}
		out[i] = uint32(u)
	}
	return out, true
}

// errRequired is the error of a required value that is missing.
var errRequired = errors.New("required")

// CheckUplinkName says what is wrong with an uplink's name, or nil.
func CheckUplinkName(name string) error {
	switch {
	case name == "":
		return errRequired
	case !uplinkName.MatchString(name):
		return fmt.Errorf("%q must match %s", name, uplinkName)
	}
	return nil
}

// CheckInterfaceName says what the kernel would find wrong with an
// interface's name (dev_valid_name), or nil.
func CheckInterfaceName(name string) error {
	switch {
	case name == "":
		return errRequired
	case len(name) > maxInterfaceName:
		return fmt.Errorf("%q is longer than %d bytes (IFNAMSIZ-1)", name, maxInterfaceName)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid interface name", name)
	case strings.ContainsAny(name, "/:") || strings.ContainsFunc(name, unicode.IsSpace):
		return fmt.Errorf("%q is not a valid interface name: it contains '/', ':' or white space", name)
	}
	return nil
}

// listenForms are the forms of api.listen.
const listenForms = "unix:///absolute/path or tcp://host:port"

// SplitListen splits an api.listen address, unix:///absolute/path or
// tcp://host:port, into a network ("unix" or "tcp") and an address (the
// socket's path, cleaned, or host:port). It takes port 0, which a test
// listens on to get a free port; Validate refuses it in a config.
func SplitListen(s string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		switch {
		case !filepath.IsAbs(path):
			return "", "", fmt.Errorf("%q: the socket path must be absolute, as in %s", s, listenForms)
		case strings.HasSuffix(path, "/"):
			return "", "", fmt.Errorf("%q: the socket path names a directory", s)
		}
		return "unix", filepath.Clean(path), nil
	}
	if hostPort, ok := strings.CutPrefix(s, "tcp://"); ok {
		host, port, err := net.SplitHostPort(hostPort)
		switch {
		case err != nil || strings.Contains(hostPort, "/"):
			return "", "", fmt.Errorf("%q is not %s", s, listenForms)
		case host == "":
			return "", "", fmt.Errorf("%q has no host (0.0.0.0 or [::] listens on every address)", s)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("%q: the port must be 1..65535", s)
		}
		return "tcp", hostPort, nil
	}
	return "", "", fmt.Errorf("%q is neither %s", s, strings.Replace(listenForms, " or ", " nor ", 1))
}
