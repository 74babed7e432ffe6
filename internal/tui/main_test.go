package tui

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's embedded server and gRPC keep process-wide workers.
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		// The test driver runs the model's commands as the program would;
		// a tea.Tick still waiting for its time (the status probes) is a
		// timer, not a leak.
		goleak.IgnoreTopFunction("charm.land/bubbletea/v2.Tick.func1"),
	)
}
