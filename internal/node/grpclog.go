package node

import (
	"io"

	"google.golang.org/grpc/grpclog"
)

// SilenceGRPCLogs discards everything gRPC logs, in this process, through
// its process-wide logger. gRPC writes its errors to standard error by
// default, and both the etcd server and the etcd client use gRPC, so a
// terminal program calls this once, first thing in main, before any etcd
// client or member exists. gRPC does not guard its logger against
// concurrent use, which is why this is left to main rather than done by
// [Start] or [Local].
func SilenceGRPCLogs() {
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}
