package chat

import "context"

// SendRaw sends body as the plaintext of a message, with none of the
// checks of the typed senders: tests use it to play a modified client.
func SendRaw(ctx context.Context, s *Service, room string, body []byte) (Message, error) {
	name, err := s.resolve(room)
	if err != nil {
		return Message{}, err
	}
	o, err := s.newOutgoing(name, "", string(body))
	if err != nil {
		return Message{}, err
	}
	return s.transmit(ctx, o)
}
