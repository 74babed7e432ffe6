package node_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// A removal whose reply is an error ("server stopped", as the member that
// applied its own removal may answer) is checked against the member list:
// gone means removed; still listed means the error stands.
func TestRemoveMemberAfterAnErrorReply(t *testing.T) {
	eps := storetest.StartCluster(t, 3)
	// apply says whether the intercepted MemberRemove reaches the cluster.
	var apply atomic.Bool
	adm, err := node.OpenAdmin(node.AdminConfig{
		Endpoints: eps,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				if !strings.HasSuffix(method, "/MemberRemove") {
					return invoker(ctx, method, req, reply, cc, opts...)
				}
				if apply.Load() {
					if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
						return err
					}
				}
				return rpctypes.ErrGRPCStopped
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := testContext(t, 30*time.Second)

	if err := adm.RemoveMember(ctx, "m2"); err == nil || !strings.Contains(err.Error(), "server stopped") {
		t.Fatalf("RemoveMember refused with server stopped = %v, want that error", err)
	}
	apply.Store(true)
	if err := adm.RemoveMember(ctx, "m2"); err != nil {
		t.Fatalf("RemoveMember that went through, answered with server stopped = %v, want nil", err)
	}
	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if m.Name == "m2" {
			t.Fatalf("m2 still listed: %+v", st)
		}
	}
}
