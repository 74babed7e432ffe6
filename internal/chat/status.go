package chat

import (
	"context"
)

// EndpointStatus is what one etcd endpoint answered to a probe.
type EndpointStatus struct {
	Endpoint string `json:"endpoint"`
	OK       bool   `json:"ok"`
	Leader   bool   `json:"leader"`
	Err      string `json:"error,omitempty"`
}

// ClusterStatus probes every configured endpoint, bounded by ctx.
func (s *Service) ClusterStatus(ctx context.Context) []EndpointStatus {
	hs := s.st.Health(ctx)
	out := make([]EndpointStatus, len(hs))
	for i, h := range hs {
		out[i] = EndpointStatus{Endpoint: h.Endpoint, OK: h.OK, Leader: h.Leader}
		if h.Err != nil {
			out[i].Err = h.Err.Error()
		}
	}
	return out
}

// RoomSummary is what a room list shows of a room's activity.
type RoomSummary struct {
	Room string
	// Last is the newest message (verified and decrypted if I can read it);
	// zero if the room has none.
	Last Message
	// Unread is the number of messages created after the revision passed
	// to Summary.
	Unread int64
}

// Summary returns the newest message of room and how many messages arrived
// after revision seen (0: count none).
func (s *Service) Summary(ctx context.Context, room string, seen int64) (RoomSummary, error) {
	name, err := s.resolve(room)
	if err != nil {
		return RoomSummary{}, err
	}
	sum := RoomSummary{Room: name}
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return sum, err
	}
	page, err := s.st.Messages(ctx, name, "", 1, 0)
	if err != nil {
		return sum, err
	}
	if len(page.Messages) == 1 {
		msgs, err := s.verifyAll(ctx, v, page.Messages)
		if err == nil && len(msgs) == 1 {
			sum.Last = msgs[0]
		}
	}
	if seen > 0 {
		n, err := s.st.CountMessagesSince(ctx, name, seen)
		if err != nil {
			return sum, err
		}
		sum.Unread = n
	}
	return sum, nil
}
