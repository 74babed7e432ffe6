package chat_test

// A user's second device: linked with a one-time code, listed in every
// room its user is in, sending as its user, and revoked.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// linkDevice links a new device of the identity logged in as owner and
// returns the device logged in, with a home of its own.
func linkDevice(t *testing.T, e *env, owner *chat.Service, label string) (*chat.Service, *crypto.Identity) {
	t.Helper()
	c := ctx(t)
	dev, err := crypto.NewIdentity(owner.Me())
	if err != nil {
		t.Fatal(err)
	}
	pl, err := chat.StartLink(c, e.st, dev, label, time.Now())
	if err != nil {
		t.Fatalf("StartLink = %v", err)
	}
	got := make(chan *chat.LinkedDevice, 1)
	failed := make(chan error, 1)
	go func() {
		l, err := pl.Wait(c)
		if err != nil {
			failed <- err
			return
		}
		got <- l
	}()
	// The code travels by hand: a parse of its printed form.
	code, err := crypto.ParseLinkCode(pl.Code.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := owner.ApproveLink(c, code); err != nil {
		t.Fatalf("ApproveLink = %v", err)
	}
	var linked *chat.LinkedDevice
	select {
	case linked = <-got:
	case err := <-failed:
		t.Fatalf("Wait = %v", err)
	case <-c.Done():
		t.Fatal("the new device never learned it was approved")
	}
	h := newHome()
	s, err := chat.Login(c, e.st, dev, chat.Options{Linked: linked, RoomPins: h, Heads: h})
	if err != nil {
		t.Fatalf("Login(linked device) = %v", err)
	}
	return s, dev
}

// plantSealed plays member, who holds room's current key, sealing a text
// message as signer (named as its user) under room's newest commit, and
// puts it in etcd with a raw client. It returns the message id.
func plantSealed(t *testing.T, e *env, member *chat.Service, signer *crypto.Identity, room string, seq uint64, text string) crypto.MessageID {
	t.Helper()
	c := ctx(t)
	n, digest, k, err := chat.CurrentKey(c, member, room)
	if err != nil {
		t.Fatal(err)
	}
	mid := crypto.NewMessageID(time.Now())
	h := crypto.Header{Commit: n, CommitDigest: digest, Sender: signer.Name(), Seq: seq, Time: time.Now().UnixMilli()}
	env, err := crypto.SealMessage(signer, k, room, mid, h, chat.TextPayload(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw().Put(c, store.Prefix+"room/"+room+"/m/"+mid.String(), string(env)); err != nil {
		t.Fatal(err)
	}
	return mid
}

// flowDeviceLinkSendRevoke: a linked device reads the whole history of the
// rooms its user is in, sends as its user (shown as theirs, from that
// device), changes membership; once revoked it reads nothing sent after.
func flowDeviceLinkSendRevoke(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	groupOf(t, "general", alice, bob)
	mustSend(t, alice, "general", "before the laptop")
	mustSend(t, bob, "general", "bob before the laptop")
	sub, err := bob.Subscribe(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}

	laptop, dev := linkDevice(t, e, alice, "laptop")
	if ev := waitNotice(t, sub, chat.NoticeDevices); ev.Notice.User != "alice" || ev.Notice.Devices != 2 || ev.Notice.By != "alice" {
		t.Fatalf("bob's notice of alice's new device: %+v", ev.Notice)
	}
	if !laptop.Linked() || laptop.Fingerprint() != alice.Fingerprint() || laptop.Device() == alice.Device() {
		t.Fatalf("linked device: linked %v, fingerprint %s (alice %s), device %s (alice %s)", laptop.Linked(), laptop.Fingerprint(), alice.Fingerprint(), laptop.Device(), alice.Device())
	}
	devs, err := bob.Devices(c, "alice")
	if err != nil || len(devs) != 2 || !devs[0].Identity || devs[1].ID != laptop.Device() || devs[1].Label != "laptop" {
		t.Fatalf("bob sees alice's devices %+v, %v", devs, err)
	}
	for _, text := range []string{"before the laptop", "bob before the laptop"} {
		if !canRead(t, laptop, "general", text) {
			t.Fatalf("the laptop cannot read %q from before it was linked", text)
		}
	}

	// Sent from the laptop: alice's, from that device, on every side.
	sent := mustSend(t, laptop, "general", "from the laptop")
	mustSend(t, alice, "general", "from the identity's device")
	mustSend(t, laptop, "general", "laptop again")
	for _, reader := range []*chat.Service{alice, bob, laptop} {
		p, err := reader.History(c, "general", 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range p.Messages {
			if m.ID == sent.ID {
				found = m.Rejected == "" && m.Sender == "alice" && m.Device == laptop.Device() && m.Text == "from the laptop"
			}
		}
		if !found {
			t.Errorf("%s does not see alice's laptop message as hers: %v", reader.Me(), texts(p))
		}
		if len(p.Warnings) != 0 {
			t.Errorf("%s warns of %v: each device numbers its own messages", reader.Me(), p.Warnings)
		}
	}

	// The laptop changes membership (its commits are signed by it) and
	// makes rooms that list every device of alice.
	carol := e.login("carol")
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.Approve(c, "general", "carol"); err != nil {
		t.Fatalf("approval from the laptop = %v", err)
	}
	if !canRead(t, carol, "general", "from the laptop") {
		t.Fatal("carol, approved by the laptop, cannot read")
	}
	if _, err := laptop.CreateRoom(c, "laptop-made"); err != nil {
		t.Fatalf("create from the laptop = %v", err)
	}
	mustSend(t, alice, "laptop-made", "the identity reads the laptop's room")
	if !canRead(t, laptop, "laptop-made", "the identity reads the laptop's room") {
		t.Fatal("the laptop cannot read its own room")
	}
	// A room made later by someone else lists the laptop too.
	info, err := bob.DirectRoom(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	dm := info.Name
	mustSend(t, bob, dm, "hi alice")
	if !canRead(t, laptop, dm, "hi alice") {
		t.Fatal("the laptop cannot read a direct room made after it was linked")
	}

	// Only the identity's device approves and revokes devices.
	if _, err := laptop.RevokeDevice(c, alice.Device()); !errors.Is(err, chat.ErrLinkedDevice) {
		t.Fatalf("revoke from the laptop = %v, want ErrLinkedDevice", err)
	}
	rooms, err := alice.RevokeDevice(c, laptop.Device())
	if err != nil {
		t.Fatalf("RevokeDevice = %v", err)
	}
	if want := []string{"general", "laptop-made", dm}; !sameSet(rooms, want) {
		t.Errorf("revocation changed rooms %v, want %v", rooms, want)
	}
	mustSend(t, bob, "general", "after the revocation")
	if canRead(t, laptop, "general", "after the revocation") {
		t.Fatal("the revoked laptop reads what follows its revocation")
	}
	// Not even a new process of it, with its keys, reads it.
	again, err := chat.Login(c, e.st, dev, chat.Options{Linked: linkedOf(t, e, alice, dev)})
	if err == nil && canRead(t, again, "general", "after the revocation") {
		t.Fatal("a new process of the revoked laptop reads what follows")
	}
	if _, err := laptop.Send(c, "general", "still here?"); !errors.Is(err, chat.ErrDeviceNotListed) {
		t.Fatalf("send from the revoked laptop = %v, want ErrDeviceNotListed", err)
	}
	// What it sent before stays alice's.
	p, err := bob.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Messages {
		if m.ID == sent.ID && (m.Rejected != "" || m.Sender != "alice") {
			t.Fatalf("the laptop's message from before the revocation is now %+v", m)
		}
	}
	devs, _ = alice.Devices(c, "alice")
	if len(devs) != 2 || devs[1].Revoked.IsZero() {
		t.Fatalf("alice's devices after the revocation: %+v", devs)
	}
}

// linkedOf rebuilds what a device keeps of its link, from etcd.
func linkedOf(t *testing.T, e *env, owner *chat.Service, dev *crypto.Identity) *chat.LinkedDevice {
	t.Helper()
	id, err := owner.User(ctx(t), owner.Me())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.st.Device(ctx(t), names.User(owner.Me()), chat.DeviceID(dev.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return &chat.LinkedDevice{Identity: id, Cert: rec.Value()}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// flowDeviceLinkTampered: whoever can write etcd cannot swap the new
// device's keys in its link request, nor hand the new device another
// identity in the answer: the code, never stored, authenticates both.
func flowDeviceLinkTampered(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	raw := e.raw()

	// A request whose keys were swapped for the attacker's.
	dev, _ := crypto.NewIdentity("alice")
	pl, err := chat.StartLink(c, e.st, dev, "phone", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key := store.Prefix + "links/alice/" + pl.Code.ID()
	resp, err := raw.Get(c, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("link request at %s: %v", key, err)
	}
	var req map[string]any
	json.Unmarshal(resp.Kvs[0].Value, &req)
	mallory, _ := crypto.NewIdentity("alice")
	req["signing_key"] = mallory.Public().SigningKey()
	req["kem_key"] = mallory.Public().KEMKey()
	b, _ := json.Marshal(req)
	if _, err := raw.Put(c, key, string(b)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.ApproveLink(c, pl.Code); !errors.Is(err, chat.ErrLinkTampered) {
		t.Fatalf("approving a swapped request = %v, want ErrLinkTampered", err)
	}
	devs, _ := alice.Devices(c, "alice")
	if len(devs) != 1 {
		t.Fatalf("a swapped request added a device: %+v", devs)
	}
	// A wrong code finds nothing.
	if _, _, err := alice.ApproveLink(c, crypto.NewLinkCode()); !errors.Is(err, chat.ErrNoLink) {
		t.Fatalf("approving an unknown code = %v, want ErrNoLink", err)
	}

	// An answer planted by the attacker, with an identity of their own
	// certifying the new device.
	dev2, _ := crypto.NewIdentity("alice")
	pl2, err := chat.StartLink(c, e.st, dev2, "tablet", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fake := map[string]any{"signing_key": mallory.Public().SigningKey(), "kem_key": mallory.Public().KEMKey(), "cert": []byte("{}"), "mac": make([]byte, 32)}
	b, _ = json.Marshal(fake)
	if _, err := raw.Put(c, store.Prefix+"links/alice/"+pl2.Code.ID()+".ok", string(b)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	if _, err := pl2.Wait(wctx); !errors.Is(err, chat.ErrLinkTampered) {
		t.Fatalf("Wait on a planted answer = %v, want ErrLinkTampered", err)
	}
}

// flowDeviceForgedRefused: a device only alice's identity certified, in a
// roster change only alice signed, speaks for alice. Bob, a member holding
// the room's key, tries both halves.
func flowDeviceForgedRefused(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	groupOf(t, "general", alice, bob)
	laptop, _ := linkDevice(t, e, alice, "laptop")
	mustSend(t, laptop, "general", "genuine")

	// (1) Bob rewrites alice's devices, dropping her laptop: refused,
	// the laptop goes on.
	if err := chat.CommitDevicesOf(c, bob, "general", "alice", []string{alice.Device()}); err != nil && !errors.Is(err, chat.ErrTampered) {
		t.Logf("bob's commit: %v", err)
	}
	mustSend(t, laptop, "general", "still listed")
	if !canRead(t, bob, "general", "still listed") {
		t.Fatal("bob dropped alice's laptop from the room")
	}

	// (2) A certificate for keys bob holds, signed by a key that is not
	// alice's identity, listed by a commit alice's own client signs:
	// refused, and bob's message sealed with those keys is not alice's.
	mallory, _ := crypto.NewIdentity("alice")
	mdev := chat.DeviceID(mallory.Public())
	forged, err := store.EncodeDevice(mallory, store.Device{User: "alice", ID: mdev, SigningKey: mallory.Public().SigningKey(), KEMKey: mallory.Public().KEMKey(), Created: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw().Put(c, store.Prefix+"devices/alice/"+mdev, string(forged)); err != nil {
		t.Fatal(err)
	}
	list := []string{alice.Device(), laptop.Device(), mdev}
	slices.Sort(list[1:])
	if err := chat.CommitDevicesOf(c, alice, "general", "alice", list); err == nil {
		t.Log("the forged listing was stored (and must not count)")
	}
	mid := plantSealed(t, e, bob, mallory, "general", 1, "forged as alice")
	carol := e.login("carol") // a reader who saw nothing before
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Approve(c, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	for _, reader := range []*chat.Service{alice, bob, carol} {
		p, err := reader.History(c, "general", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Messages {
			if m.ID == mid.String() && m.Rejected == "" {
				t.Fatalf("%s accepts bob's message as alice's, from device %q: %+v", reader.Me(), m.Device, m)
			}
		}
		devs, err := reader.Devices(c, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if d.ID == mdev {
				t.Fatalf("%s lists the forged device of alice", reader.Me())
			}
		}
	}
	mustSend(t, laptop, "general", "after the forgeries")
	if !canRead(t, carol, "general", "after the forgeries") {
		t.Fatal("the room is stuck after the forgeries")
	}
}

// flowDeviceRecovery: with every device lost, the recovery code made at
// registration certifies a new device; each room lists it once a member
// approves, and it reads the whole history and sends as its user. A wrong
// code, or a user record that names the code's key beside other identity
// keys, recovers nothing.
func flowDeviceRecovery(t *testing.T, e *env) {
	c := ctx(t)
	code := crypto.NewRecoveryCode()
	rk, err := code.RecoveryIdentity("alice")
	if err != nil {
		t.Fatal(err)
	}
	aliceID, _ := crypto.NewIdentity("alice")
	alice, err := chat.Login(c, e.st, aliceID, chat.Options{Recovery: rk})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.login("bob")
	groupOf(t, "general", alice, bob)
	mustSend(t, alice, "general", "before the loss")
	info, err := bob.DirectRoom(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, info.Name, "a direct word before the loss")
	// alice loses every device: aliceID is gone from here on.

	dev, _ := crypto.NewIdentity("alice")
	if _, err := chat.RecoverDevice(c, e.st, dev, crypto.NewRecoveryCode(), "new phone", time.Now()); !errors.Is(err, chat.ErrBadRecovery) {
		t.Fatalf("RecoverDevice with a wrong code = %v, want ErrBadRecovery", err)
	}
	l, err := chat.RecoverDevice(c, e.st, dev, code, "new phone", time.Now())
	if err != nil {
		t.Fatalf("RecoverDevice = %v", err)
	}
	h := newHome()
	phone, err := chat.Login(c, e.st, dev, chat.Options{Linked: l, RoomPins: h, Heads: h})
	if err != nil {
		t.Fatalf("Login(recovered device) = %v", err)
	}
	if _, err := phone.Send(c, "general", "too early"); !errors.Is(err, chat.ErrDeviceNotListed) {
		t.Fatalf("send before any room lists the device = %v, want ErrDeviceNotListed", err)
	}
	asked, err := phone.RequestDevice(c)
	if err != nil || !sameSet(asked, []string{"general", info.Name}) {
		t.Fatalf("RequestDevice = %v, %v", asked, err)
	}
	reqs, err := bob.Requests(c, "general")
	if err != nil || len(reqs) != 1 || reqs[0].User != "alice" || !reqs[0].NewDevice {
		t.Fatalf("bob sees requests %+v, %v", reqs, err)
	}
	for _, room := range asked {
		if err := bob.Approve(c, names.Room(room), "alice"); err != nil {
			t.Fatalf("bob approves alice's new device in %s: %v", room, err)
		}
	}
	if !canRead(t, phone, "general", "before the loss") || !canRead(t, phone, info.Name, "a direct word before the loss") {
		t.Fatal("the recovered device cannot read the history")
	}
	sent := mustSend(t, phone, "general", "back, from a new phone")
	p, err := bob.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, m := range p.Messages {
		ok = ok || (m.ID == sent.ID && m.Rejected == "" && m.Sender == "alice" && m.Device == phone.Device())
	}
	if !ok {
		t.Fatalf("bob does not see the recovered device's message as alice's: %v", texts(p))
	}
	devs, err := bob.Devices(c, "alice")
	if err != nil || len(devs) != 2 || !devs[1].Recovered {
		t.Fatalf("alice's devices: %+v, %v", devs, err)
	}

	// carol's record is replaced by one with other identity keys that
	// names carol's recovery key: her code recovers nothing into it.
	ccode := crypto.NewRecoveryCode()
	crk, _ := ccode.RecoveryIdentity("carol")
	carolID, _ := crypto.NewIdentity("carol")
	if _, err := chat.Login(c, e.st, carolID, chat.Options{Recovery: crk}); err != nil {
		t.Fatal(err)
	}
	orig, err := e.st.User(c, "carol")
	if err != nil {
		t.Fatal(err)
	}
	raw := e.raw()
	if _, err := raw.Delete(c, store.Prefix+"users/carol"); err != nil {
		t.Fatal(err)
	}
	mallory, _ := crypto.NewIdentity("carol")
	fake := store.User{Name: "carol", SigningKey: mallory.Public().SigningKey(), KEMKey: mallory.Public().KEMKey(), Created: time.Now().UTC(), Recovery: orig.Body.Recovery, RecoverySig: orig.Body.RecoverySig}
	if _, err := e.st.CreateUser(c, mallory, fake); err != nil {
		t.Fatal(err)
	}
	cdev, _ := crypto.NewIdentity("carol")
	if _, err := chat.RecoverDevice(c, e.st, cdev, ccode, "", time.Now()); !errors.Is(err, chat.ErrBadRecovery) {
		t.Fatalf("RecoverDevice into a planted record = %v, want ErrBadRecovery", err)
	}
}

// flowIdentityRotation: a new identity signed by the old keeps the name,
// the rooms, the history and the other devices; readers follow the change
// (a verified mark too), and the old key speaks for nobody after it.
func flowIdentityRotation(t *testing.T, e *env) {
	c := ctx(t)
	a1, _ := crypto.NewIdentity("alice")
	alice, err := chat.Login(c, e.st, a1, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.login("bob")
	groupOf(t, "general", alice, bob)
	laptop, _ := linkDevice(t, e, alice, "laptop")
	mustSend(t, alice, "general", "before the rotation")
	mustSend(t, laptop, "general", "laptop before")
	if err := bob.MarkVerified(c, "alice", alice.Fingerprint()); err != nil {
		t.Fatal(err)
	}

	sub, err := bob.Subscribe(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := crypto.NewIdentity("alice")
	rooms, err := alice.RotateIdentity(c, a2)
	if err != nil || !slices.Equal(rooms, []string{"general"}) {
		t.Fatalf("RotateIdentity = %v, %v", rooms, err)
	}
	if ev := waitNotice(t, sub, chat.NoticeRekey); ev.Notice.User != "alice" {
		t.Fatalf("bob's notice of alice's new identity: %+v", ev.Notice)
	}
	// Again, as after an interrupted run: nothing more to do.
	if rooms, err := alice.RotateIdentity(c, a2); err != nil || len(rooms) != 0 {
		t.Fatalf("RotateIdentity again = %v, %v", rooms, err)
	}
	alice2, err := chat.Login(c, e.st, a2, chat.Options{})
	if err != nil {
		t.Fatalf("Login with the new identity = %v", err)
	}
	if alice2.Fingerprint() != a2.Public().Fingerprint() {
		t.Fatalf("fingerprint %s, want the new identity's", alice2.Fingerprint())
	}
	if !canRead(t, alice2, "general", "before the rotation") {
		p, err := alice2.History(c, "general", 0)
		if err == nil {
			t.Fatalf("the new identity cannot read the history: %q", texts(p))
		}
		t.Fatalf("the new identity cannot read the history: %v", err)
	}
	mustSend(t, alice2, "general", "after the rotation")
	mustSend(t, laptop, "general", "laptop after")

	// Bob's pin and mark follow alice's chain.
	p, err := bob.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice: before the rotation", "alice: laptop before", "alice: after the rotation", "alice: laptop after"}
	if got := texts(p); !slices.Equal(got, want) {
		t.Fatalf("bob reads %q, want %q", got, want)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("bob is warned: %v", p.Warnings)
	}
	sf, err := bob.Safety(c, "alice")
	if err != nil || sf.Fingerprint != a2.Public().Fingerprint() || !sf.Verified {
		t.Fatalf("bob's view of alice after the rotation: %+v, %v", sf, err)
	}

	// The old key speaks for nobody now, even to a new reader.
	if _, err := alice.Send(c, "general", "from the old key"); err == nil {
		t.Fatal("the old identity still sends")
	}
	mid := plantSealed(t, e, bob, a1, "general", 99, "forged with the old key")
	carol := e.login("carol")
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := alice2.Approve(c, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	for _, reader := range []*chat.Service{bob, carol} {
		p, err := reader.History(c, "general", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Messages {
			if m.ID == mid.String() && m.Rejected == "" {
				t.Fatalf("%s accepts a message signed by alice's old key after the rotation", reader.Me())
			}
		}
		if !canRead(t, reader, "general", "before the rotation") || !canRead(t, reader, "general", "laptop after") {
			t.Fatalf("%s cannot read alice's messages from both sides of the rotation", reader.Me())
		}
	}

	// Rolling the change back in etcd is noticed by whoever followed it.
	if _, err := e.raw().Delete(c, store.Prefix+"rekeys/alice/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	bob.ForgetUsers()
	if _, err := bob.Safety(c, "alice"); !errors.Is(err, chat.ErrKeyChanged) {
		t.Fatalf("after the change was deleted, bob's Safety = %v, want ErrKeyChanged", err)
	}
}

// flowIdentityRotationHalfDone: while a rotation is under way (the change
// is in etcd, a room has not admitted the new key yet), readers who see
// the new key still accept what the old key signed in that room, and the
// rotation finishes later.
func flowIdentityRotationHalfDone(t *testing.T, e *env) {
	c := ctx(t)
	a1, _ := crypto.NewIdentity("alice")
	alice, err := chat.Login(c, e.st, a1, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.login("bob")
	groupOf(t, "general", alice, bob)
	mustSend(t, alice, "general", "before")

	// Only the change: signed by the old key, the room untouched.
	rec, err := e.st.User(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := crypto.NewIdentity("alice")
	if err := e.st.PutRekey(c, a1, store.Rekey{User: "alice", N: 1, Prev: rec.Digest(), SigningKey: a2.Public().SigningKey(), KEMKey: a2.Public().KEMKey(), Time: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "general", "during")
	carol := e.login("carol") // sees alice's new key first
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Approve(c, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"before", "during"} {
		if !canRead(t, carol, "general", text) {
			p, _ := carol.History(c, "general", 0)
			t.Fatalf("a reader who knows alice's new key rejects %q the old key signed while the room still admits it: %q", text, texts(p))
		}
	}
	if rooms, err := alice.RotateIdentity(c, a2); err != nil || len(rooms) != 1 {
		t.Fatalf("finishing the rotation = %v, %v", rooms, err)
	}
	alice2, err := chat.Login(c, e.st, a2, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice2, "general", "after")
	p, err := carol.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: before", "alice: during", "alice: after"}; !slices.Equal(got, want) {
		t.Fatalf("carol reads %q, want %q", got, want)
	}
}

// flowRevokeReachesHiddenRooms: the room-list hints are unsigned; a
// revocation still reaches a room whose hint etcd withholds, since the
// home verified that room before.
func flowRevokeReachesHiddenRooms(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	groupOf(t, "general", alice, bob)
	groupOf(t, "quiet", alice, bob)
	laptop, _ := linkDevice(t, e, alice, "laptop")
	if !canReadAny(t, laptop, "quiet") {
		t.Fatal("the laptop is not in quiet")
	}
	if _, err := e.raw().Delete(c, store.Prefix+"member/alice/quiet"); err != nil {
		t.Fatal(err)
	}
	rooms, err := alice.RevokeDevice(c, laptop.Device())
	if err != nil || !sameSet(rooms, []string{"general", "quiet"}) {
		t.Fatalf("RevokeDevice = %v, %v; want both rooms", rooms, err)
	}
	mustSend(t, bob, "quiet", "after the revocation")
	if canRead(t, laptop, "quiet", "after the revocation") {
		t.Fatal("the revoked laptop reads a room whose hint was withheld")
	}
}

// canReadAny reports whether s reads room's history without an error.
func canReadAny(t *testing.T, s *chat.Service, room string) bool {
	t.Helper()
	_, err := s.History(ctx(t), names.Room(room), 0)
	return err == nil
}
