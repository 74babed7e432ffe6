package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
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
	KindCommit  = "commit"
	KindRequest = "request"
)

// recordLabelPrefix prefixes the signature label of every record kind.
const recordLabelPrefix = "parley/v2/record/"

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
	// Recovery is the public signing key of the user's recovery code,
	// and RecoverySig its signature of the identity's keys (see
	// chat.RecoverDevice): a record that names the recovery key but
	// other identity keys is not the user's.
	Recovery    []byte `json:"recovery,omitempty"`
	RecoverySig []byte `json:"recovery_sig,omitempty"`
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
	// Device is the creator's device that signed the record (empty: the
	// creator's identity key).
	Device string `json:"device,omitempty"`
}

// Commit operations.
const (
	OpCreate = "create" // commit 1: the creator (or both users of a direct room)
	OpAdd    = "add"    // admits users whose join requests it names
	OpDeny   = "deny"   // refuses join requests; the roster is unchanged
	OpRemove = "remove" // removes users and rotates the key in the same commit
	OpLeave  = "leave"  // the signer leaves; the key is retired until rotated
	OpRotate = "rotate" // a new epoch key for the same roster
	OpClose  = "close"  // the last member leaves and the room ends
	OpPolicy = "policy" // a room setting changes (Disappear)
	// OpDevices changes the devices of members (the keys are rewrapped to
	// all their devices; a removed device rotates the key).
	OpDevices = "devices"
	// OpRekey admits a member's new identity, signed by the old one; the
	// key rotates.
	OpRekey = "rekey"
)

// Commit is one link of a room's membership chain, signed by a member of
// the roster it follows, stored create-only under its number. Package chat
// decides which commits count; this package only checks form.
type Commit struct {
	Room string `json:"room"`
	N    uint64 `json:"n"`
	// Prev is the digest of commit N-1 (empty for commit 1).
	Prev  []byte  `json:"prev,omitempty"`
	Op    string  `json:"op"`
	Users []Entry `json:"users,omitempty"`
	// Heads are the last sequence numbers of departing users' messages,
	// as the signer knew them: later ones sealed before the departure
	// are not theirs to send.
	Heads []Head `json:"heads,omitempty"`
	// Epoch is the key epoch after this commit; KeyCheck commits to its
	// key, and KeyLink (on a new epoch) seals the previous epoch's key
	// under the new one.
	Epoch    uint32 `json:"epoch"`
	KeyCheck []byte `json:"key_check"`
	KeyLink  []byte `json:"key_link,omitempty"`
	// WrapTag names the wraps written for this commit, Wraps how many.
	WrapTag string `json:"wrap_tag,omitempty"`
	Wraps   int    `json:"wraps,omitempty"`
	// Roster is the digest of the roster after this commit, Count its size.
	Roster []byte `json:"roster"`
	Count  int    `json:"count"`
	// Retired says the epoch key is known to someone no longer in the
	// roster: members rotate before they send.
	Retired bool `json:"retired,omitempty"`
	// Disappear (policy commits) is how long, in seconds, messages sent
	// from this commit on live (0: for good).
	Disappear int64     `json:"disappear,omitempty"`
	Time      time.Time `json:"time"`
	// Device is the signer's device that signed the commit; empty for the
	// signer's identity key.
	Device string `json:"device,omitempty"`
}

// Entry names one user a commit is about.
type Entry struct {
	User string `json:"user"`
	// Key is the fingerprint of the user's identity (added users).
	Key string `json:"key,omitempty"`
	// Devices are the device ids holding wraps (added users).
	Devices []string `json:"devices,omitempty"`
	// Request is the digest of the join request answered (add, deny).
	Request []byte `json:"request,omitempty"`
}

// Head is a departing user's last message sequence number, from one of
// their devices (empty: the identity's own).
type Head struct {
	User   string `json:"user"`
	Seq    uint64 `json:"seq"`
	Device string `json:"device,omitempty"`
}

// Request is a user's request to join a group room, signed by that user.
type Request struct {
	User    string    `json:"user"`
	Key     string    `json:"key"` // fingerprint of the requester's identity
	Created time.Time `json:"created"`
	// Device is the requester's device that signed the request (empty:
	// the identity key); Devices are all the devices the requester asks
	// the room's key to be wrapped to (empty: the signing one).
	Device  string   `json:"device,omitempty"`
	Devices []string `json:"devices,omitempty"`
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
	bad   error  // set on a placeholder for a record that did not decode
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

// Malformed returns why the record did not decode, or nil. Readers of a
// chain get such placeholders where a record should be, so the chain stops
// at them instead of skipping them.
func (s *Signed[T]) Malformed() error { return s.bad }

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
	if _, err := parseUser(w.Signer); err != nil {
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
	if b.Device != "" && !validTag(b.Device) {
		return nil, fmt.Errorf("%w at %s: bad device id", ErrBadRecord, key)
	}
	return r, nil
}

func decodeCommit(key, room string, n uint64, value []byte, cr, mr int64) (*Signed[Commit], error) {
	r, err := open[Commit](KindCommit, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	b := r.Body
	if err := errors.Join(same(key, "room", b.Room, room), same(key, "number", b.N, n)); err != nil {
		return nil, err
	}
	switch b.Op {
	case OpCreate, OpAdd, OpDeny, OpRemove, OpLeave, OpRotate, OpClose, OpPolicy, OpDevices, OpRekey:
	default:
		return nil, fmt.Errorf("%w at %s: unknown operation %q", ErrBadRecord, key, b.Op)
	}
	if b.WrapTag != "" && !validTag(b.WrapTag) {
		return nil, fmt.Errorf("%w at %s: bad wrap tag", ErrBadRecord, key)
	}
	for _, e := range b.Users {
		if _, err := parseUser(e.User); err != nil {
			return nil, fmt.Errorf("%w at %s: %v", ErrBadRecord, key, err)
		}
		for _, d := range e.Devices {
			if !validTag(d) {
				return nil, fmt.Errorf("%w at %s: bad device id", ErrBadRecord, key)
			}
		}
	}
	for _, h := range b.Heads {
		if _, err := parseUser(h.User); err != nil {
			return nil, fmt.Errorf("%w at %s: %v", ErrBadRecord, key, err)
		}
		if h.Device != "" && !validTag(h.Device) {
			return nil, fmt.Errorf("%w at %s: bad device id", ErrBadRecord, key)
		}
	}
	if b.Device != "" && !validTag(b.Device) {
		return nil, fmt.Errorf("%w at %s: bad device id", ErrBadRecord, key)
	}
	return r, nil
}

func decodeRequest(key, user string, value []byte, cr, mr int64) (*Signed[Request], error) {
	r, err := open[Request](KindRequest, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(same(key, "user", r.Body.User, user), same(key, "signer", r.Signer, user)); err != nil {
		return nil, err
	}
	if len(r.Body.Devices) > MaxDevices {
		return nil, fmt.Errorf("%w at %s: %d devices", ErrBadRecord, key, len(r.Body.Devices))
	}
	for _, d := range append([]string{r.Body.Device}, r.Body.Devices...) {
		if d != "" && !validTag(d) {
			return nil, fmt.Errorf("%w at %s: bad device id", ErrBadRecord, key)
		}
	}
	return r, nil
}

// MaxDevices is the most devices a user has in a room.
const MaxDevices = 8

// Digest identifies a record's exact bytes: SHA-256 of lp(label) || key ||
// 0x00 || value, with label "parley/v2/digest/<kind>". A commit names its
// predecessor's digest, and answers to join requests name theirs.
func (s *Signed[T]) Digest() []byte {
	h := sha256.New()
	label := "parley/v2/digest/" + s.kind
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(label)))
	h.Write(n[:])
	h.Write([]byte(label))
	h.Write([]byte(s.Key))
	h.Write([]byte{0})
	h.Write(s.value)
	return h.Sum(nil)
}

// same reports a mismatch between a record's field and its key.
func same[V comparable](key, what string, got, want V) error {
	if got != want {
		return mismatch(key, what, got, want)
	}
	return nil
}
