package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Signer signs records. *crypto.Identity implements it.
type Signer interface {
	Name() string
	Sign(label string, msg []byte) []byte
}

// Verifier checks a signature made by one named user. *crypto.PublicIdentity
// implements it.
type Verifier interface {
	Name() string
	Verify(label string, msg, sig []byte) bool
}

// Record kinds. Each kind has its own signature label, so a signature made
// for one kind never verifies as another.
const (
	KindUser    = "user"
	KindRoom    = "room"
	KindEpoch   = "epoch"
	KindWrap    = "wrap"
	KindRequest = "request"
	KindDenial  = "denial"
	KindLeft    = "left"
)

// recordLabelPrefix prefixes the signature label of every record kind.
const recordLabelPrefix = "parley/v1/record/"

// ErrBadRecord is wrapped by every error about a record that cannot be
// decoded or does not match its key.
var ErrBadRecord = errors.New("malformed record")

// ErrBadRecordSignature means a record's signature does not verify.
var ErrBadRecordSignature = errors.New("record signature does not verify")

// User is a user's public identity, stored create-only under the user's
// name and signed by the user's own key.
type User struct {
	Name       string    `json:"name"`
	SigningKey []byte    `json:"signing_key"`
	KEMKey     []byte    `json:"kem_key"`
	Created    time.Time `json:"created"`
}

// Room kinds.
const (
	RoomGroup  = "group"
	RoomDirect = "direct"
)

// Room describes a room, signed by its creator, create-only.
type Room struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Creator string    `json:"creator"`
	Members []string  `json:"members,omitempty"` // direct rooms: the two users
	Created time.Time `json:"created"`
}

// Epoch starts a key epoch of a room; it is signed by the member who created
// the room (epoch 1) or rotated the key.
type Epoch struct {
	Epoch   uint32    `json:"epoch"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

// Wrap is one member's sealed copy of a room's keys for one epoch (all keys
// from epoch 1 up to that epoch), signed by the member who granted it.
type Wrap struct {
	Epoch   uint32    `json:"epoch"`
	User    string    `json:"user"`
	Sealed  []byte    `json:"sealed"`
	Created time.Time `json:"created"`
}

// Request is a user's request to join a group room, signed by that user.
type Request struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
}

// Denial records that a member refused a join request.
type Denial struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
}

// Left records that a user stopped being a member during an epoch, by
// leaving (signed by the user) or by removal (signed by the remover).
type Left struct {
	Epoch   uint32    `json:"epoch"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
}

// Signed is a record as read from etcd, with what is needed to verify it.
// The zero value is not useful; records come from this package's readers.
type Signed[T any] struct {
	Body   T
	Signer string // user name of the signer, as claimed by the record
	Key    string // etcd key the record was read from
	// CreateRevision and ModRevision are etcd's revisions of the key.
	CreateRevision, ModRevision int64

	kind  string
	body  []byte // exact signed bytes of Body
	sig   []byte
	value []byte
}

// Verify checks the record's signature with v, which must be the public
// identity of the record's claimed signer.
func (s *Signed[T]) Verify(v Verifier) error {
	if v.Name() != s.Signer {
		return fmt.Errorf("%s record at %s: signed by %q, verified with key of %q: %w", s.kind, s.Key, s.Signer, v.Name(), ErrBadRecordSignature)
	}
	if !v.Verify(recordLabelPrefix+s.kind, signedBytes(s.Key, s.body), s.sig) {
		return fmt.Errorf("%s record at %s by %q: %w", s.kind, s.Key, s.Signer, ErrBadRecordSignature)
	}
	return nil
}

// Value returns the record's bytes as stored in etcd.
func (s *Signed[T]) Value() []byte { return s.value }

// wire is the JSON form of a signed record in etcd.
type wire struct {
	Kind   string          `json:"kind"`
	Signer string          `json:"signer"`
	Body   json.RawMessage `json:"body"`
	Sig    []byte          `json:"sig"`
}

func signedBytes(key string, body []byte) []byte {
	b := make([]byte, 0, len(key)+1+len(body))
	b = append(b, key...)
	b = append(b, 0)
	return append(b, body...)
}

// seal encodes and signs a record for key.
func seal[T any](kind, key string, body T, s Signer) ([]byte, error) {
	bb, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s record: %w", kind, err)
	}
	sig := s.Sign(recordLabelPrefix+kind, signedBytes(key, bb))
	return json.Marshal(wire{Kind: kind, Signer: s.Name(), Body: bb, Sig: sig})
}

// open decodes a record of the given kind read from key. It checks form
// only; the caller verifies the signature with the signer's key.
func open[T any](kind, key string, value []byte, createRev, modRev int64) (*Signed[T], error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrBadRecord, key, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w at %s: trailing data", ErrBadRecord, key)
	}
	if w.Kind != kind {
		return nil, fmt.Errorf("%w at %s: kind %q, want %q", ErrBadRecord, key, w.Kind, kind)
	}
	if err := checkUser(w.Signer); err != nil {
		return nil, fmt.Errorf("%w at %s: signer: %v", ErrBadRecord, key, err)
	}
	if len(w.Sig) != 64 {
		return nil, fmt.Errorf("%w at %s: signature is %d bytes", ErrBadRecord, key, len(w.Sig))
	}
	var body T
	bd := json.NewDecoder(bytes.NewReader(w.Body))
	bd.DisallowUnknownFields()
	if err := bd.Decode(&body); err != nil {
		return nil, fmt.Errorf("%w at %s: body: %v", ErrBadRecord, key, err)
	}
	return &Signed[T]{
		Body: body, Signer: w.Signer, Key: key,
		CreateRevision: createRev, ModRevision: modRev,
		kind: kind, body: []byte(w.Body), sig: w.Sig, value: value,
	}, nil
}

func mismatch(key, what string, got, want any) error {
	return fmt.Errorf("%w at %s: %s is %v, key says %v", ErrBadRecord, key, what, got, want)
}

// DecodeUser decodes a user record read from etcd at the key of user name.
func decodeUser(key, name string, value []byte, cr, mr int64) (*Signed[User], error) {
	r, err := open[User](KindUser, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	if r.Body.Name != name {
		return nil, mismatch(key, "name", r.Body.Name, name)
	}
	if r.Signer != name {
		return nil, mismatch(key, "signer", r.Signer, name)
	}
	return r, nil
}

func decodeRoom(key, name string, value []byte, cr, mr int64) (*Signed[Room], error) {
	r, err := open[Room](KindRoom, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	b := r.Body
	if b.Name != name {
		return nil, mismatch(key, "name", b.Name, name)
	}
	if r.Signer != b.Creator {
		return nil, mismatch(key, "signer", r.Signer, b.Creator)
	}
	switch b.Kind {
	case RoomGroup:
		if len(b.Members) != 0 {
			return nil, fmt.Errorf("%w at %s: group room lists members", ErrBadRecord, key)
		}
	case RoomDirect:
		if len(b.Members) != 2 || b.Members[0] >= b.Members[1] {
			return nil, fmt.Errorf("%w at %s: direct room needs two sorted members", ErrBadRecord, key)
		}
		if b.Creator != b.Members[0] && b.Creator != b.Members[1] {
			return nil, fmt.Errorf("%w at %s: direct room created by an outsider", ErrBadRecord, key)
		}
	default:
		return nil, fmt.Errorf("%w at %s: unknown room kind %q", ErrBadRecord, key, b.Kind)
	}
	return r, nil
}

// decodeState decodes one record under a room's state prefix. It returns
// one of *Signed[Epoch], *Signed[Wrap], *Signed[Request], *Signed[Denial],
// *Signed[Left], or (nil, nil) for the version key. A body that disagrees
// with its key is an error.
func decodeState(key string, sk stateKey, value []byte, cr, mr int64) (any, error) {
	switch sk.kind {
	case "version":
		return nil, nil
	case "epoch":
		return decodeChecked(KindEpoch, key, value, cr, mr, func(r *Signed[Epoch]) error {
			return same(key, "epoch", r.Body.Epoch, sk.epoch)
		})
	case "wrap":
		return decodeChecked(KindWrap, key, value, cr, mr, func(r *Signed[Wrap]) error {
			return errors.Join(same(key, "epoch", r.Body.Epoch, sk.epoch), same(key, "user", r.Body.User, sk.user))
		})
	case "request":
		return decodeChecked(KindRequest, key, value, cr, mr, func(r *Signed[Request]) error {
			return errors.Join(same(key, "user", r.Body.User, sk.user), same(key, "signer", r.Signer, sk.user))
		})
	case "denial":
		return decodeChecked(KindDenial, key, value, cr, mr, func(r *Signed[Denial]) error {
			return same(key, "user", r.Body.User, sk.user)
		})
	case "left":
		return decodeChecked(KindLeft, key, value, cr, mr, func(r *Signed[Left]) error {
			return errors.Join(same(key, "epoch", r.Body.Epoch, sk.epoch), same(key, "user", r.Body.User, sk.user))
		})
	}
	return nil, fmt.Errorf("%w at %s: unknown kind", ErrBadRecord, key)
}

// decodeChecked opens a record of kind and applies check to it.
func decodeChecked[T any](kind, key string, value []byte, cr, mr int64, check func(*Signed[T]) error) (any, error) {
	r, err := open[T](kind, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	if err := check(r); err != nil {
		return nil, err
	}
	return r, nil
}

// same reports a mismatch between a record's field and its key.
func same[V comparable](key, what string, got, want V) error {
	if got != want {
		return mismatch(key, what, got, want)
	}
	return nil
}
