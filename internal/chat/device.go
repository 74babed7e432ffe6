package chat

// This file holds a user's devices: each has its own keys, certified by
// the user's identity key; the identity itself is the user's first device.
// A room's chain lists every member's devices (store.Entry.Devices, the
// identity's first); a device speaks for its user in a room only while the
// chain lists it, and reads only the epochs whose keys were wrapped to it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Device errors.
var (
	ErrNoLink          = errors.New("no device is waiting with this code (it expired after 10 minutes, was used, or was typed wrong)")
	ErrLinkTampered    = errors.New("the link records in etcd do not match the code: another device or identity was put there")
	ErrNoDevice        = errors.New("no such device")
	ErrTooManyDevice   = errors.New("too many devices")
	ErrDeviceNotListed = errors.New("this device is not among the room's devices of its user: it was revoked (or, just linked, the room has not been told yet)")
	ErrLinkedDevice    = errors.New("this device does not hold the identity key: approve and revoke devices on the device where the identity was created or imported")
)

// LinkTTL is how long a link code waits to be approved.
const LinkTTL = 10 * time.Minute

// deviceID names a device by its key-encapsulation key: 16 hex digits.
func deviceID(p *crypto.PublicIdentity) string {
	h := sha256.Sum256(append([]byte("parley/v2/device\x00"), p.KEMKey()...))
	return hex.EncodeToString(h[:8])
}

// LinkedDevice is what a device other than the identity's own holds of
// the identity: the user's public identity, pinned when the device was
// linked, and the certificate of this device's keys.
type LinkedDevice struct {
	Identity *crypto.PublicIdentity
	// Recovery is the identity's recovery key, if the certificate was
	// made with it (a device recovered when every device was lost).
	Recovery []byte
	Cert     []byte // the certificate record, as stored in etcd
}

// Device is one of a user's devices, as verified.
type Device struct {
	ID      string    `json:"id"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Identity marks the identity's own device (it cannot be revoked).
	Identity bool      `json:"identity,omitempty"`
	Revoked  time.Time `json:"revoked,omitzero"`
	// This marks the device this service runs on.
	This bool `json:"this,omitempty"`
	// Recovered marks a device certified with the recovery code.
	Recovered bool `json:"recovered,omitempty"`
}

// devKey is one device's verified key: a device's (id), or an identity
// the user had before (fp).
type devKey struct {
	id  string
	pub *crypto.PublicIdentity
	fp  string
}

// checkDeviceList checks the form of a roster entry's devices: the
// identity's device first, then the others in increasing order, at most
// store.MaxDevices.
func checkDeviceList(ds []string) error {
	if len(ds) == 0 || len(ds) > store.MaxDevices {
		return fmt.Errorf("%d devices (1 to %d)", len(ds), store.MaxDevices)
	}
	for i := 2; i < len(ds); i++ {
		if ds[i] <= ds[i-1] {
			return errors.New("devices out of order or repeated")
		}
	}
	if slices.Contains(ds[1:], ds[0]) {
		return errors.New("the identity's device is listed twice")
	}
	return nil
}

// deviceKey returns the verified key of device dev of user ("" or the
// identity's own device id: the identity key), whose identity must have
// fingerprint fp if fp is given (it is then pinned, if pin).
func (s *Service) deviceKey(ctx context.Context, user, fp, dev string, pin bool) (*crypto.PublicIdentity, error) {
	id, err := s.userKeyPin(ctx, user, fp, pin)
	if err != nil {
		return nil, err
	}
	if dev == "" || dev == deviceID(id) {
		return id, nil
	}
	ck := user + "/" + dev + "/" + id.Fingerprint()
	s.mu.Lock()
	p := s.devs[ck]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	rec, err := s.st.Device(ctx, names.User(user), dev)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: device %s of %s has no certificate in etcd", ErrNoDevice, dev, user)
		}
		return nil, err
	}
	if p, err = s.verifyCertChain(user, id, rec); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.devs[ck] = p
	s.mu.Unlock()
	return p, nil
}

// verifyDeviceCert checks that rec certifies a device of the identity id
// (signed by it, or by its recovery key, if it has one) and returns the
// device's key.
func verifyDeviceCert(id *crypto.PublicIdentity, recovery []byte, rec *store.Signed[store.Device]) (*crypto.PublicIdentity, error) {
	b := rec.Body
	p, err := crypto.NewPublicIdentity(b.User, b.SigningKey, b.KEMKey)
	if err != nil {
		return nil, fmt.Errorf("certificate of device %s of %s: %w", b.ID, b.User, err)
	}
	if deviceID(p) != b.ID || p.Equal(id) {
		return nil, fmt.Errorf("certificate of device %s of %s: %w: it names another device", b.ID, b.User, store.ErrBadRecord)
	}
	var v store.Verifier = id
	if b.Via == "recovery" {
		if recovery == nil {
			return nil, fmt.Errorf("certificate of device %s of %s: made with a recovery code, but %s's record names none", b.ID, b.User, b.User)
		}
		k, err := crypto.NewSigningKey(b.User, recovery)
		if err != nil {
			return nil, err
		}
		v = k
	}
	if err := rec.Verify(v); err != nil {
		return nil, fmt.Errorf("certificate of device %s of %s is not signed by their identity: %w", b.ID, b.User, err)
	}
	return p, nil
}

// verifyCertChain is verifyDeviceCert under id or any identity user had
// before it: a certificate an earlier identity made still counts, since
// that identity signed its successor.
func (s *Service) verifyCertChain(user string, id *crypto.PublicIdentity, rec *store.Signed[store.Device]) (*crypto.PublicIdentity, error) {
	signers := []*crypto.PublicIdentity{id}
	s.mu.Lock()
	if ch := s.chains[user]; ch != nil {
		if _, i := ch.byFingerprint(id.Fingerprint()); i > 0 {
			signers = slices.Clone(ch.keys[:i+1])
		}
	}
	s.mu.Unlock()
	var err error
	for i := len(signers) - 1; i >= 0; i-- {
		var p *crypto.PublicIdentity
		if p, err = verifyDeviceCert(signers[i], s.recoveryKey(user), rec); err == nil {
			return p, nil
		}
	}
	return nil, err
}

// recoveryBindingLabel signs a recovery key's binding to an identity.
const recoveryBindingLabel = "parley/v2/recovery-binding"

// recoveryBinding is what the recovery key signs at registration: the
// identity's keys.
func recoveryBinding(id *crypto.PublicIdentity) []byte {
	b := append([]byte{}, id.SigningKey()...)
	return append(b, id.KEMKey()...)
}

// recoveryBound reports whether the user record u names a recovery key
// that signed the identity id.
func recoveryBound(id *crypto.PublicIdentity, u store.User) bool {
	if len(u.Recovery) == 0 {
		return false
	}
	k, err := crypto.NewSigningKey(id.Name(), u.Recovery)
	return err == nil && k.Verify(recoveryBindingLabel, recoveryBinding(id), u.RecoverySig)
}

// recoveryKey returns user's verified recovery key, or nil.
func (s *Service) recoveryKey(user string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recov[user]
}

// identityDevice returns the id of the identity's own device of the user
// whose identity is p.
func identityDevice(p *crypto.PublicIdentity) string { return deviceID(p) }

// signingDevice is what records I sign name as their device: nothing for
// the identity key, else this device's id.
func (s *Service) signingDevice() string {
	if s.linked {
		return s.dev
	}
	return ""
}

// Device returns the id of the device this service runs on.
func (s *Service) Device() string { return s.dev }

// Linked reports whether this service runs on a linked device (one that
// does not hold the identity key).
func (s *Service) Linked() bool { return s.linked }

// Devices lists user's devices as their identity certifies them, revoked
// ones too.
func (s *Service) Devices(ctx context.Context, user string) ([]Device, error) {
	id, err := s.userKeyPin(ctx, user, "", false)
	if err != nil {
		return nil, err
	}
	ud, err := s.st.Devices(ctx, names.User(user))
	if err != nil {
		return nil, err
	}
	own := identityDevice(id)
	out := []Device{{ID: own, Identity: true, Label: "identity", This: user == s.me.Name() && s.dev == own}}
	for dev, rec := range ud.Certs {
		if _, err := s.verifyCertChain(user, id, rec); err != nil {
			s.log.Warn("rejected a device certificate", "user", user, "device", dev, "err", err)
			continue
		}
		d := Device{ID: dev, Label: rec.Body.Label, Created: rec.Body.Created, This: user == s.me.Name() && s.dev == dev, Recovered: rec.Body.Via == "recovery"}
		if r := ud.Revoked[dev]; r != nil && r.Verify(id) == nil {
			d.Revoked = r.Body.Time
		}
		out = append(out, d)
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].ID < out[1+j].ID })
	return out, nil
}

// deviceSet returns the device list a roster entry of user should hold:
// the identity's device, then every certified device not revoked.
func (s *Service) deviceSet(ctx context.Context, user string) ([]string, error) {
	ds, err := s.Devices(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Revoked.IsZero() {
			out = append(out, d.ID)
		}
	}
	if len(out) > store.MaxDevices {
		out = out[:store.MaxDevices]
	}
	return out, nil
}

// linkRequest is what a new device writes under its link code's id.
type linkRequest struct {
	SigningKey []byte    `json:"signing_key"`
	KEMKey     []byte    `json:"kem_key"`
	Label      string    `json:"label,omitempty"`
	Created    time.Time `json:"created"`
	MAC        []byte    `json:"mac"`
}

func (r *linkRequest) macParts(user string) [][]byte {
	return [][]byte{[]byte(user), r.SigningKey, r.KEMKey, []byte(r.Label), []byte(r.Created.UTC().Format(time.RFC3339Nano))}
}

// linkAnswer is what the approving device writes back.
type linkAnswer struct {
	SigningKey []byte `json:"signing_key"` // the identity's
	KEMKey     []byte `json:"kem_key"`
	Cert       []byte `json:"cert"`
	MAC        []byte `json:"mac"`
}

func (a *linkAnswer) macParts(user string) [][]byte {
	return [][]byte{[]byte(user), a.SigningKey, a.KEMKey, a.Cert}
}

// openLinkRequest decodes a link request read from etcd and checks its MAC
// under code; it returns the request and the new device's key.
func openLinkRequest(code crypto.LinkCode, user string, raw []byte) (*linkRequest, *crypto.PublicIdentity, error) {
	var r linkRequest
	if err := json.Unmarshal(raw, &r); err != nil || !code.CheckMAC(r.MAC, "request", r.macParts(user)...) {
		return nil, nil, ErrLinkTampered
	}
	p, err := crypto.NewPublicIdentity(user, r.SigningKey, r.KEMKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrLinkTampered, err)
	}
	return &r, p, nil
}

// openLinkAnswer decodes a link answer read from etcd and checks its MAC
// under code; it returns the answer and the identity it names.
func openLinkAnswer(code crypto.LinkCode, user string, raw []byte) (*linkAnswer, *crypto.PublicIdentity, error) {
	var a linkAnswer
	if err := json.Unmarshal(raw, &a); err != nil || !code.CheckMAC(a.MAC, "answer", a.macParts(user)...) {
		return nil, nil, ErrLinkTampered
	}
	id, err := crypto.NewPublicIdentity(user, a.SigningKey, a.KEMKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrLinkTampered, err)
	}
	return &a, id, nil
}

// PendingLink is a new device waiting for a device of its user to approve
// it.
type PendingLink struct {
	Code   crypto.LinkCode
	st     *store.Client
	device *crypto.Identity
}

// StartLink asks to link device, a new identity made for this machine
// under the user's name, to the user's identity: it writes a link request
// that only the code shown to the user opens, valid for LinkTTL.
func StartLink(ctx context.Context, st *store.Client, device *crypto.Identity, label string, now time.Time) (*PendingLink, error) {
	user := device.Name()
	if len(label) > 64 {
		return nil, fmt.Errorf("device label is %d bytes, at most 64", len(label))
	}
	if _, err := st.User(ctx, names.User(user)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("link a device of %s: %w: create the identity first (log in on another machine), or import it", user, ErrNoUser)
		}
		return nil, err
	}
	code := crypto.NewLinkCode()
	pub := device.Public()
	r := linkRequest{SigningKey: pub.SigningKey(), KEMKey: pub.KEMKey(), Label: label, Created: now.UTC()}
	r.MAC = code.MAC("request", r.macParts(user)...)
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := st.PutLink(ctx, names.User(user), code.ID(), b, LinkTTL); err != nil {
		return nil, err
	}
	return &PendingLink{Code: code, st: st, device: device}, nil
}

// Wait waits until a device holding the identity approves the link, and
// returns what this device keeps of the identity. The answer counts only
// if the link code authenticates it and the certificate it carries is the
// identity's for this device's keys.
func (l *PendingLink) Wait(ctx context.Context) (*LinkedDevice, error) {
	user := l.device.Name()
	raw, err := l.st.WaitLinkAnswer(ctx, names.User(user), l.Code.ID())
	if err != nil {
		return nil, err
	}
	a, id, err := openLinkAnswer(l.Code, user, raw)
	if err != nil {
		return nil, fmt.Errorf("link a device of %s: %w", user, err)
	}
	if err := checkLinkedCert(id, nil, l.device, a.Cert); err != nil {
		return nil, fmt.Errorf("link a device of %s: %w: %v", user, ErrLinkTampered, err)
	}
	_ = l.st.DeleteLink(ctx, names.User(user), l.Code.ID())
	return &LinkedDevice{Identity: id, Cert: a.Cert}, nil
}

// Cancel withdraws the link request.
func (l *PendingLink) Cancel(ctx context.Context) error {
	return l.st.DeleteLink(ctx, names.User(l.device.Name()), l.Code.ID())
}

// checkLinkedCert checks that cert certifies device's keys under id (or
// its recovery key).
func checkLinkedCert(id *crypto.PublicIdentity, recovery []byte, device *crypto.Identity, cert []byte) error {
	pub := device.Public()
	dev := deviceID(pub)
	rec, err := store.DecodeDevice(device.Name(), dev, cert)
	if err != nil {
		return err
	}
	p, err := verifyDeviceCert(id, recovery, rec)
	if err != nil {
		return err
	}
	if !p.Equal(pub) {
		return errors.New("the certificate is for other keys")
	}
	return nil
}

// ApproveLink adds the device waiting with code to my identity: it
// certifies the device's keys, lists it in every room I am a member of (so
// it gets their keys, and reads their history), and answers the device.
// Only the identity's own device approves. It returns the new device and
// the rooms that now list it.
func (s *Service) ApproveLink(ctx context.Context, code crypto.LinkCode) (Device, []string, error) {
	me := s.me.Name()
	if s.linked {
		return Device{}, nil, ErrLinkedDevice
	}
	raw, err := s.st.Link(ctx, names.User(me), code.ID())
	if errors.Is(err, store.ErrNotFound) {
		return Device{}, nil, ErrNoLink
	}
	if err != nil {
		return Device{}, nil, err
	}
	r, p, err := openLinkRequest(code, me, raw)
	if err != nil {
		return Device{}, nil, err
	}
	dev := deviceID(p)
	have, err := s.deviceSet(ctx, me)
	if err != nil {
		return Device{}, nil, err
	}
	if !slices.Contains(have, dev) && len(have) >= store.MaxDevices {
		return Device{}, nil, fmt.Errorf("%w: %s has %d devices, the most a user has; revoke one first", ErrTooManyDevice, me, len(have))
	}
	d := store.Device{User: me, ID: dev, SigningKey: r.SigningKey, KEMKey: r.KEMKey, Label: r.Label, Created: s.now().UTC()}
	if err := s.st.PutDevice(ctx, s.me, d); err != nil {
		return Device{}, nil, err
	}
	rec, err := s.st.Device(ctx, names.User(me), dev)
	if err != nil {
		return Device{}, nil, err
	}
	if _, err := verifyDeviceCert(s.root, nil, rec); err != nil {
		return Device{}, nil, err
	}
	rooms, err := s.SyncDevices(ctx)
	if err != nil {
		return Device{}, rooms, err
	}
	a := linkAnswer{SigningKey: s.root.SigningKey(), KEMKey: s.root.KEMKey(), Cert: rec.Value()}
	a.MAC = code.MAC("answer", a.macParts(me)...)
	b, err := json.Marshal(a)
	if err != nil {
		return Device{}, rooms, err
	}
	if err := s.st.PutLinkAnswer(ctx, names.User(me), code.ID(), b, LinkTTL); err != nil {
		return Device{}, rooms, err
	}
	return Device{ID: dev, Label: r.Label, Created: rec.Body.Created}, rooms, nil
}

// RevokeDevice revokes one of my devices: its certificate no longer
// counts, and every room I am in drops it and rotates its key in the same
// commit, so the device reads nothing sent from then on. It returns the
// rooms changed.
func (s *Service) RevokeDevice(ctx context.Context, dev string) ([]string, error) {
	me := s.me.Name()
	if s.linked {
		return nil, ErrLinkedDevice
	}
	if dev == s.dev {
		return nil, fmt.Errorf("%w: %s is the identity's own device; to stop using the identity, make a new one", ErrNotAllowed, dev)
	}
	if _, err := s.deviceKey(ctx, me, "", dev, false); err != nil {
		return nil, err
	}
	if err := s.st.PutRevocation(ctx, s.me, store.DeviceRevocation{User: me, ID: dev, Time: s.now().UTC()}); err != nil {
		return nil, err
	}
	return s.SyncDevices(ctx)
}

// SyncDevices brings my entry in every room I am a member of up to my
// identity's devices: new ones are given the room's key, revoked ones are
// dropped and the key rotated. It returns the rooms it changed; a room it
// could not change is named in the error, the others are changed anyway.
func (s *Service) SyncDevices(ctx context.Context) ([]string, error) {
	me := s.me.Name()
	want, err := s.deviceSet(ctx, me)
	if err != nil {
		return nil, err
	}
	rooms, err := s.myRooms(ctx)
	if err != nil {
		return nil, err
	}
	var changed []string
	var errs []error
	for _, room := range rooms {
		did := false
		_, err := s.commit(ctx, room, "update the devices of "+me, func(v *roomView) (*plan, error) {
			m := v.Members[me]
			if slices.Equal(m.Devices, want) {
				return nil, errDone
			}
			did = true
			return &plan{op: store.OpDevices, devices: []store.Entry{{User: me, Key: m.Key, Devices: want}}}, nil
		})
		switch {
		case err == nil && did:
			changed = append(changed, room)
		case errors.Is(err, ErrNotMember), errors.Is(err, ErrClosed):
			// A stale hint: not mine to change.
		case err != nil:
			if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
				return changed, err
			}
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

// ResumeLink returns the pending link of device under code, started
// before (by StartLink, in an earlier run).
func ResumeLink(st *store.Client, device *crypto.Identity, code crypto.LinkCode) *PendingLink {
	return &PendingLink{Code: code, st: st, device: device}
}

// DeviceIDOf returns the id of the device whose keys are p.
func DeviceIDOf(p *crypto.PublicIdentity) string { return deviceID(p) }

// ErrBadRecovery means a recovery code is not the one the user's record
// names, or the record was not made with it.
var ErrBadRecovery = errors.New("this recovery code is not the user's (or the user's record in etcd was replaced)")

// RecoverDevice makes device, a new identity made for this machine, a
// device of its user with the user's recovery code, for when every device
// is lost: the code's key certifies the device. The user's record must
// name the code's key and carry its signature of the identity, so a
// record planted in etcd cannot pass another identity off with the code.
// It returns what the device keeps; once logged in with it, the device
// asks each room to list it (RequestDevice) and a member approves.
func RecoverDevice(ctx context.Context, st *store.Client, device *crypto.Identity, code crypto.RecoveryCode, label string, now time.Time) (*LinkedDevice, error) {
	user := device.Name()
	rec, err := st.User(ctx, names.User(user))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("recover %s: %w", user, ErrNoUser)
		}
		return nil, err
	}
	id, err := crypto.NewPublicIdentity(user, rec.Body.SigningKey, rec.Body.KEMKey)
	if err != nil {
		return nil, fmt.Errorf("recover %s: the user record: %w", user, err)
	}
	if err := rec.Verify(id); err != nil {
		return nil, fmt.Errorf("recover %s: the user record: %w", user, err)
	}
	rk, err := code.RecoveryIdentity(user)
	if err != nil {
		return nil, err
	}
	if !recoveryBound(id, rec.Body) || !bytes.Equal(rec.Body.Recovery, rk.Public().SigningKey()) {
		return nil, fmt.Errorf("recover %s: %w", user, ErrBadRecovery)
	}
	pub := device.Public()
	d := store.Device{User: user, ID: deviceID(pub), SigningKey: pub.SigningKey(), KEMKey: pub.KEMKey(), Label: label, Via: "recovery", Created: now.UTC()}
	if err := st.PutDevice(ctx, rk, d); err != nil {
		return nil, err
	}
	cert, err := st.Device(ctx, names.User(user), d.ID)
	if err != nil {
		return nil, err
	}
	l := &LinkedDevice{Identity: id, Recovery: rec.Body.Recovery, Cert: cert.Value()}
	if err := checkLinkedCert(id, l.Recovery, device, l.Cert); err != nil {
		return nil, err
	}
	return l, nil
}

// RequestDevice asks every room I am a member of, but whose roster does
// not list this device, to list it: a member approves it as they approve
// a join (a device recovered with the recovery code has no other device of
// mine to do it). It returns the rooms asked.
func (s *Service) RequestDevice(ctx context.Context) ([]string, error) {
	me := s.me.Name()
	rooms, err := s.myRooms(ctx)
	if err != nil {
		return nil, err
	}
	var asked []string
	var errs []error
	for _, room := range rooms {
		v, err := s.loadView(ctx, room)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := v.Members[me]
		if !v.isMember(me) || v.Closed || slices.Contains(m.Devices, s.dev) {
			continue
		}
		if r := v.hasRequest(me); r != nil {
			asked = append(asked, room)
			continue
		}
		devs := append(slices.Clone(m.Devices), s.dev)
		slices.Sort(devs[1:])
		if len(devs) > store.MaxDevices {
			errs = append(errs, fmt.Errorf("room %q: %w", room, ErrTooManyDevice))
			continue
		}
		req := store.Request{User: me, Key: m.Key, Created: s.now().UTC(), Device: s.dev, Devices: devs}
		if err := s.st.PutRequest(ctx, s.me, names.Room(room), req); err != nil && !errors.Is(err, store.ErrExists) {
			errs = append(errs, err)
			continue
		}
		asked = append(asked, room)
	}
	slices.Sort(asked)
	return asked, errors.Join(errs...)
}

// RoomLister is a RoomPins that can list the rooms it holds a verified
// state of.
type RoomLister interface {
	PinnedRooms() ([]string, error)
}

// myRooms returns, sorted, the rooms I may be a member of: those etcd's
// room-list hints name and those this home pinned. The hints are unsigned,
// so a change that must reach every room I am in (a device listed or
// revoked, a new identity) does not rest on them alone: a hint withheld in
// etcd hides no room this home verified. The caller verifies each room.
func (s *Service) myRooms(ctx context.Context) ([]string, error) {
	hints, err := s.st.MyRooms(ctx, names.User(s.me.Name()))
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(hints))
	for r := range hints {
		set[r] = true
	}
	if l, ok := s.roomPins.(RoomLister); ok {
		pinned, err := l.PinnedRooms()
		if err != nil {
			return nil, fmt.Errorf("list the rooms this home verified: %w", err)
		}
		for _, r := range pinned {
			set[r] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out, nil
}
