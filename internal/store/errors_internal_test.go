package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every etcd error a caller may retry maps to ErrUnavailable; the others
// keep their meaning. The inputs are what etcd's client returns: gRPC
// errors converted by rpctypes.Error.
func TestMapErr(t *testing.T) {
	other := errors.New("something else")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"deadline", context.DeadlineExceeded, ErrUnavailable},
		{"no leader", rpctypes.ErrGRPCNoLeader, ErrUnavailable},
		{"leader changed", rpctypes.ErrGRPCLeaderChanged, ErrUnavailable},
		{"request timed out", rpctypes.ErrGRPCTimeout, ErrUnavailable},
		{"too many requests", rpctypes.ErrGRPCRequestTooManyRequests, ErrUnavailable},
		{"proposal dropped", status.Error(codes.Unknown, "raft proposal dropped"), ErrUnavailable},
		{"connection refused", status.Error(codes.Unavailable, "connection refused"), ErrUnavailable},
		// What a member says while it stops, loses its leader or sheds
		// load, as it reaches the client: with etcd's own gRPC code, as
		// Unknown (raft's errors have no code), or as plain text.
		{"raft stopped", status.Error(codes.Unknown, "raft: stopped"), ErrUnavailable},
		{"raft stopped text", fmt.Errorf("member remove: %w", errors.New("raft: stopped")), ErrUnavailable},
		{"server stopped", rpctypes.ErrGRPCStopped, ErrUnavailable},
		{"server stopped unknown", status.Error(codes.Unknown, "etcdserver: server stopped"), ErrUnavailable},
		{"server stopped text", errors.New("etcdserver: server stopped"), ErrUnavailable},
		{"leader changed text", errors.New("etcdserver: leader changed"), ErrUnavailable},
		{"request timed out text", errors.New("etcdserver: request timed out"), ErrUnavailable},
		{"timed out leader fail", rpctypes.ErrGRPCTimeoutDueToLeaderFail, ErrUnavailable},
		{"timed out connection lost", rpctypes.ErrGRPCTimeoutDueToConnectionLost, ErrUnavailable},
		{"too many requests text", errors.New("etcdserver: too many requests"), ErrUnavailable},
		{"proposal dropped text", errors.New("raft proposal dropped"), ErrUnavailable},
		{"not capable", rpctypes.ErrGRPCNotCapable, ErrUnavailable},
		{"not capable text", errors.New("etcdserver: not capable"), ErrUnavailable},
		{"no leader text", errors.New("etcdserver: no leader"), ErrUnavailable},
		{"unhealthy", rpctypes.ErrGRPCUnhealthy, ErrUnavailable},
		{"grpc unavailable", status.Error(codes.Unavailable, "transport is closing"), ErrUnavailable},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), ErrUnavailable},
		{"wrapped deadline", fmt.Errorf("list members: %w", context.DeadlineExceeded), ErrUnavailable},
		{"compacted", rpctypes.ErrGRPCCompacted, ErrCompacted},
		{"too large", rpctypes.ErrGRPCRequestTooLarge, ErrTooLarge},
		{"no space", rpctypes.ErrGRPCNoSpace, ErrNoSpace},
		{"permission", rpctypes.ErrGRPCPermissionDenied, ErrPermission},
		{"wrong password", rpctypes.ErrGRPCAuthFailed, ErrPermission},
		{"no user given", rpctypes.ErrGRPCUserEmpty, ErrPermission},
		{"cancelled", context.Canceled, context.Canceled},
		{"unknown", other, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := rpctypes.Error(tt.err)
			got := mapErr(in)
			if !errors.Is(got, tt.want) {
				t.Fatalf("mapErr(%v) = %v, want it to be %v", tt.err, got, tt.want)
			}
			if !errors.Is(got, in) {
				t.Fatalf("mapErr(%v) = %v lost the original", tt.err, got)
			}
			if tt.want != ErrUnavailable && errors.Is(got, ErrUnavailable) {
				t.Fatalf("mapErr(%v) = %v, which callers would retry", tt.err, got)
			}
		})
	}
}
