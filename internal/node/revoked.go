package node

import (
	"context"
	"crypto/x509"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// revokedInterceptors return gRPC interceptors that refuse every request
// whose client certificate revoked reports: etcd checks its revocation
// list only when a connection is made, so a client connected before its
// certificate was revoked would otherwise keep its connection.
func revokedInterceptors(revoked func(*x509.Certificate) bool) []grpc.ServerOption {
	check := func(ctx context.Context) error {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return nil
		}
		ti, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok {
			return nil
		}
		for _, c := range ti.State.PeerCertificates {
			if revoked(c) {
				return status.Error(codes.Unauthenticated, "client certificate revoked")
			}
		}
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}
