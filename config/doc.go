// Package config is the schema of multihomed's configuration file: a plain
// typed struct, filled once from YAML (through viper) and MULTIHOMED_*
// environment variables, with defaults applied at parse time and a Validate
// that reports every problem by its key path, all at once.
//
// It is also the one parser of every value an operator gives, in a file or
// over the control API: ParseVIPPrefix, ParseCommunity,
// ParseLargeCommunity, ParseCheckTarget, ParseAddr, CheckUplinkName and
// CheckInterfaceName are what the file's decoder and Validate use, and
// what the API calls, so that a value accepted in the file is accepted
// over the API and one refused is refused with the same words. A VIP added
// at run time is a VIP of this package, validated by Validate against the
// whole effective config.
//
// The types it shares with the decisions are policy's (policy.CheckType,
// policy.Dampening): config imports policy, which imports nothing of
// ours, so the daemon hands them over unconverted.
//
// What it deliberately does not do: watch files or apply anything (the
// daemon decides when to (re)load, and a config either loads whole or not
// at all); look at the host (an interface's existence, an uplink's
// addresses: those are run-time facts, the daemon's and policy's); know
// the API's field names (errors name config keys, or no key at all for
// single values, and the API names its own fields).
package config
