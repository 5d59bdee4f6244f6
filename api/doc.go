// Package api serves multihomed's control API: the multihomed.v1 gRPC
// service (proto/multihomed/v1), with the standard health and reflection
// services, over a control.Controller, which the daemon implements.
//
// A Server listens on a unix socket (mode 0600, or 0660 with api.group)
// or on TCP with mutual TLS only: whoever can call the API controls the
// host's routing as root does. Every request field is checked here and a
// bad one is InvalidArgument naming the field; a VIP is converted with the
// config file's defaults and checked by the config file's own parsers and
// rules (package config), so that a value accepted in the file is accepted
// over the API, and one refused is refused with the same words. An event's
// kind, a route's origin and the decisions' reasons stay Go types (control,
// policy, balance) up to here and travel as the proto's enums: enums.go
// pairs each Go value with its enum value, both ways, and EnumName gives
// clients (mhctl) the Go value's name back.
//
// What it deliberately does not do: it holds no state of the daemon's and
// decides nothing (it converts, validates and maps the Controller's
// sentinel errors to gRPC codes); it imports neither the fib, nor the
// speaker, nor any netlink package, so it is tested against a fake
// Controller without a kernel or a BGP session; it does not run commands
// (exec checks and notify hooks are refused unless api.allow_exec says
// callers are trusted as much as root).
package api
