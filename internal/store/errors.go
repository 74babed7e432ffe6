package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors callers branch on. Every error returned by this package
// that comes from etcd is mapped once, here.
var (
	// ErrUnavailable means the cluster could not be reached or has no
	// leader (no quorum); the operation may be retried later. A write that
	// failed this way may still have committed: writes in this package are
	// idempotent, so retrying is safe.
	ErrUnavailable = errors.New("etcd cluster unavailable")
	// ErrSlow means an operation ran out of time although the cluster has
	// a leader and answers a cheap read at once: it is slow or overloaded
	// rather than down, and a longer timeout may do. Only Diagnose returns
	// it, and its errors are ErrUnavailable too, so callers that retry on
	// ErrUnavailable retry on it; callers that report must test for
	// ErrSlow first.
	ErrSlow = errors.New("etcd cluster slow or overloaded")
	// ErrCompacted means a requested revision was compacted away; re-read
	// the current state and continue from its revision.
	ErrCompacted = errors.New("revision compacted")
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a create-only write found a different record in
	// place.
	ErrExists = errors.New("already exists")
	// ErrConflict means a transaction's precondition failed: somebody
	// changed the records first. Re-read and decide again.
	ErrConflict = errors.New("changed concurrently")
	// ErrTooLarge means a request exceeds etcd's request size limit.
	ErrTooLarge = errors.New("request too large for etcd")
	// ErrNoSpace means the cluster's storage quota is exhausted (an
	// operator must compact and defragment it).
	ErrNoSpace = errors.New("etcd storage quota exhausted")
	// ErrPermission means etcd refused the credentials or the operation.
	ErrPermission = errors.New("etcd permission denied")
)

// maxRequestBytes is etcd's default request limit (1.5 MiB).
const maxRequestBytes = 1536 * 1024

// mapErr converts an etcd or gRPC error into one of the sentinels above,
// keeping the original in the chain for diagnostics.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var sentinel error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		sentinel = ErrUnavailable
	case errors.Is(err, rpctypes.ErrCompacted):
		sentinel = ErrCompacted
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrGRPCRequestTooLarge):
		sentinel = ErrTooLarge
	case errors.Is(err, rpctypes.ErrNoSpace), errors.Is(err, rpctypes.ErrGRPCNoSpace):
		sentinel = ErrNoSpace
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrGRPCNoLeader),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrGRPCTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), errors.Is(err, rpctypes.ErrGRPCTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrGRPCTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrGRPCLeaderChanged), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrGRPCNotCapable), errors.Is(err, rpctypes.ErrNotCapable),
		errors.Is(err, rpctypes.ErrGRPCRequestTooManyRequests), errors.Is(err, rpctypes.ErrTooManyRequests):
		sentinel = ErrUnavailable
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrGRPCPermissionDenied),
		errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrGRPCAuthFailed),
		errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrGRPCUserEmpty),
		errors.Is(err, rpctypes.ErrAuthNotEnabled), errors.Is(err, rpctypes.ErrGRPCAuthNotEnabled):
		sentinel = ErrPermission
	}
	if sentinel == nil && retryableText(err.Error()) {
		sentinel = ErrUnavailable
	}
	if sentinel == nil {
		code, ok := codes.Unknown, false
		var ee rpctypes.EtcdError
		if errors.As(err, &ee) {
			// etcd's client turns known server errors into these.
			code, ok = ee.Code(), true
		} else if s, isStatus := status.FromError(err); isStatus {
			code, ok = s.Code(), true
		}
		if ok {
			switch code {
			case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
				sentinel = ErrUnavailable
			case codes.ResourceExhausted:
				sentinel = ErrTooLarge
			case codes.PermissionDenied, codes.Unauthenticated:
				sentinel = ErrPermission
			}
		}
	}
	if sentinel == nil {
		return err
	}
	return &mappedError{sentinel: sentinel, cause: err}
}

// MapError converts an error from etcd's client into one of the sentinels
// above, as every call of this package does. It is for the one other
// package that calls etcd's client, node, whose cluster administration
// maps its errors through it, once, so that callers of both branch on the
// same sentinels. An error that is none of them comes back unchanged.
func MapError(err error) error { return mapErr(err) }

// retryableDescs are the texts of the errors a member returns while it
// stops, has no leader, changes leaders or sheds load. They are matched as
// text too because not all of them reach the client with a gRPC code: raft's
// own errors ("raft: stopped", "raft proposal dropped") arrive as Unknown,
// and an error passed through fmt with %v keeps only its text.
var retryableDescs = []string{
	raft.ErrStopped.Error(),
	// A member that lost its leader dropped the write unapplied.
	raft.ErrProposalDropped.Error(),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCStopped),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNoLeader),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCLeaderChanged),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNotCapable),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeout),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeoutDueToLeaderFail),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeoutDueToConnectionLost),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCRequestTooManyRequests),
	rpctypes.ErrorDesc(rpctypes.ErrGRPCUnhealthy),
}

// retryableText reports whether an error's text ends with one of
// retryableDescs.
func retryableText(s string) bool {
	for _, d := range retryableDescs {
		if strings.HasSuffix(s, d) {
			return true
		}
	}
	return false
}

type mappedError struct {
	sentinel error
	cause    error
}

func (e *mappedError) Error() string {
	return fmt.Sprintf("%v: %v", e.sentinel, rpctypes.ErrorDesc(e.cause))
}

func (e *mappedError) Unwrap() []error { return []error{e.sentinel, e.cause} }
