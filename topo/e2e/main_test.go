package e2e_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(cleanupM{m}) }

// cleanupM removes what the whole test binary shared (the daemon binary
// built for the e2e tests) once every test has run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer removeDaemonBin()
	return c.m.Run()
}
