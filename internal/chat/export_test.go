package chat

import (
	"context"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// SendRaw sends body as the plaintext of a message, with none of the
// checks of the typed senders: tests use it to play a modified client.
func SendRaw(ctx context.Context, s *Service, room names.Room, body []byte) (Message, error) {
	o, err := s.newOutgoing(string(room), "", string(body))
	if err != nil {
		return Message{}, err
	}
	return s.transmit(ctx, o)
}

// DeviceID is deviceID, for tests.
var DeviceID = DeviceIDOf

// CommitDevicesOf commits, as s, that user's devices in room are devs,
// with none of the checks of SyncDevices: tests use it to play a member
// who rewrites someone else's devices.
func CommitDevicesOf(ctx context.Context, s *Service, room, user string, devs []string) error {
	_, err := s.commit(ctx, room, "set devices", func(v *roomView) (*plan, error) {
		m := v.Members[user]
		if m == nil {
			return nil, ErrNotMember
		}
		return &plan{op: store.OpDevices, devices: []store.Entry{{User: user, Key: m.Key, Devices: devs}}}, nil
	})
	return err
}

// CurrentKey returns room's newest commit (number and digest prefix) and
// its epoch key as s holds them: tests use it to play a member who forges.
func CurrentKey(ctx context.Context, s *Service, room string) (uint32, [16]byte, crypto.RoomKey, error) {
	var d [16]byte
	v, err := s.memberView(ctx, room)
	if err != nil {
		return 0, d, crypto.RoomKey{}, err
	}
	k, err := s.epochKey(ctx, v, v.Epoch)
	copy(d[:], v.prefix(v.N))
	return uint32(v.N), d, k, err
}

// TextPayload is the plaintext of a text message.
func TextPayload(text string) []byte { return payload{kind: KindText, text: text}.encode() }

// ForgetUsers drops the users' keys s holds in memory (not its pins), as a
// new process of the same home would start.
func (s *Service) ForgetUsers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.users)
	clear(s.chains)
	clear(s.devs)
}
