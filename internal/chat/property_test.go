package chat_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestRoomUnderAttack applies seeded random sequences of honest actions
// (send, join and approve, remove, leave, rotate) and raw-etcd attacks
// (flip a byte, truncate, delete, re-put, replay a message under another
// id, a departed member's forged commit or message) to one room, and
// checks after every step that:
//
//   - no user who is not a member reads a message sent after they left or
//     were removed, or at all if they never were one (confidentiality
//     holds whatever etcd does; a member reads the whole history, so what
//     was sent before they joined is theirs to read);
//   - every member either reads the same messages as the others, or
//     reports the tampering (an error, a warning or a rejected record).
//
// An honest action may fail only by reporting tampering.
func TestRoomUnderAttack(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	steps := 60
	if testing.Short() {
		seeds, steps = seeds[:1], 15
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			attackRun(t, seed, steps)
		})
	}
}

type actor struct {
	u    *user
	s    *chat.Service
	in   bool
	ever bool // was a member once
	gone int  // step of the last departure
}

func attackRun(t *testing.T, seed uint64, steps int) {
	c, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	e := newEnv(t, storetest.StartEmbedded(t))
	raw := e.raw()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var actors []*actor
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		u := e.person(n)
		actors = append(actors, &actor{u: u, s: e.process(u)})
	}
	alice := actors[0]
	if _, err := alice.s.CreateRoom(c, "r"); err != nil {
		t.Fatal(err)
	}
	alice.in, alice.ever = true, true
	// sentAt maps a message text to the step it was sent at.
	sentAt := make(map[string]int)
	pick := func(in bool) *actor {
		var cands []*actor
		for _, a := range actors {
			if a.in == in {
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		return cands[rng.IntN(len(cands))]
	}
	tampered := false
	// undo holds what attacks destroyed, so the room can be put right
	// again (as an operator restoring a backup would) and the run goes on.
	type saved struct{ k, v string }
	var undo []saved
	var log []string
	// reported says whether err is a report of tampering.
	reported := func(err error) bool {
		return errors.Is(err, chat.ErrRolledBack) || errors.Is(err, chat.ErrTampered) || errors.Is(err, chat.ErrKeyChanged)
	}
	honest := func(step int) string {
		switch k := rng.IntN(10); {
		case k < 5:
			a := pick(true)
			text := fmt.Sprintf("m%d from %s", step, a.u.id.Name())
			if _, err := a.s.Send(c, "r", text); err != nil {
				if !reported(err) {
					t.Fatalf("step %d: %s sends: %v", step, a.u.id.Name(), err)
				}
				return "send refused: " + err.Error()
			}
			sentAt[text] = step
			return "send " + text
		case k < 7:
			a := pick(false)
			if a == nil {
				return "nobody to add"
			}
			if err := a.s.RequestJoin(c, "r"); err != nil && !reported(err) {
				t.Fatalf("step %d: %s asks: %v (%q)", step, a.u.id.Name(), err, log)
			}
			approver := pick(true)
			err := approver.s.Approve(c, "r", a.u.id.Name())
			if err != nil {
				if !reported(err) && !errors.Is(err, chat.ErrNoRequest) {
					t.Fatalf("step %d: %s approves %s: %v", step, approver.u.id.Name(), a.u.id.Name(), err)
				}
				return "approve refused: " + err.Error()
			}
			a.in, a.ever = true, true
			return "add " + a.u.id.Name()
		case k < 8:
			a := pick(true)
			if a == alice {
				return "alice stays"
			}
			if err := alice.s.Remove(c, "r", a.u.id.Name()); err != nil {
				if !reported(err) {
					t.Fatalf("step %d: remove %s: %v", step, a.u.id.Name(), err)
				}
				return "remove refused: " + err.Error()
			}
			a.in, a.gone = false, step
			return "remove " + a.u.id.Name()
		case k < 9:
			a := pick(true)
			if a == alice {
				return "alice stays"
			}
			if err := a.s.Leave(c, "r", chat.LeaveOptions{}); err != nil {
				if !reported(err) {
					t.Fatalf("step %d: %s leaves: %v", step, a.u.id.Name(), err)
				}
				return "leave refused: " + err.Error()
			}
			a.in, a.gone = false, step
			return "leave " + a.u.id.Name()
		default:
			a := pick(true)
			if _, err := a.s.Rotate(c, "r"); err != nil {
				if !reported(err) {
					t.Fatalf("step %d: %s rotates: %v", step, a.u.id.Name(), err)
				}
				return "rotate refused: " + err.Error()
			}
			return "rotate by " + a.u.id.Name()
		}
	}
	keys := func(prefix string) []*struct{ k, v string } {
		resp, err := raw.Get(c, store.Prefix+prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		var out []*struct{ k, v string }
		for _, kv := range resp.Kvs {
			out = append(out, &struct{ k, v string }{string(kv.Key), string(kv.Value)})
		}
		return out
	}
	attack := func(step int) string {
		tampered = true
		switch rng.IntN(7) {
		case 0, 1: // flip a byte or truncate a commit or a message
			kvs := append(keys("room/r/c/"), keys("room/r/m/")...)
			if len(kvs) == 0 {
				return "nothing to tamper with"
			}
			kv := kvs[rng.IntN(len(kvs))]
			b := []byte(kv.v)
			if rng.IntN(2) == 0 {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			} else {
				b = b[:rng.IntN(len(b))]
			}
			raw.Put(c, kv.k, string(b))
			undo = append(undo, saved{kv.k, kv.v})
			return "tamper " + kv.k
		case 2: // delete the newest commit
			kvs := keys("room/r/c/")
			if len(kvs) == 0 {
				return "no commit to delete"
			}
			kv := kvs[len(kvs)-1]
			raw.Delete(c, kv.k)
			undo = append(undo, saved{kv.k, kv.v})
			return "delete " + kv.k
		case 3: // delete and put back a message
			kvs := keys("room/r/m/")
			if len(kvs) == 0 {
				return "no message to re-put"
			}
			kv := kvs[rng.IntN(len(kvs))]
			raw.Delete(c, kv.k)
			raw.Put(c, kv.k, kv.v)
			return "re-put " + kv.k
		case 4: // replay a message under another id
			kvs := keys("room/r/m/")
			if len(kvs) == 0 {
				return "no message to replay"
			}
			kv := kvs[rng.IntN(len(kvs))]
			raw.Put(c, store.Prefix+"room/r/m/"+crypto.NewMessageID(time.Now()).String(), kv.v)
			return "replay " + kv.k
		default: // a departed (or never) member forges a commit and a message
			a := pick(false)
			if a == nil {
				return "nobody outside"
			}
			ri, err := alice.s.Room(c, "r")
			if err != nil {
				return "room unreadable: " + err.Error()
			}
			forged := store.Commit{Room: "r", N: ri.Commit + 1, Op: store.OpAdd, Epoch: ri.Epoch, Time: time.Now(),
				Users: []store.Entry{{User: a.u.id.Name(), Key: a.u.id.Public().Fingerprint(), Devices: []string{"00"}, Request: []byte{1}}}}
			e.st.PutCommit(c, a.u.id, "r", forged, store.CommitOptions{})
			forgeMessage(t, e, a.u.id, "r", max(ri.Commit, 1), 1000, "forged by "+a.u.id.Name())
			return "forgeries by " + a.u.id.Name()
		}
	}
	check := func(step int, what string) {
		var agreed []string
		var agreedBy string
		for _, a := range actors {
			p, err := a.s.History(c, "r", 0)
			var readable []string
			if err == nil {
				for _, m := range p.Messages {
					if m.Rejected == "" {
						readable = append(readable, m.Text)
					}
				}
			}
			name := a.u.id.Name()
			if !a.in {
				for _, text := range readable {
					if at, ok := sentAt[text]; ok && (!a.ever || at > a.gone) {
						t.Fatalf("step %d (%s): %s, not a member since step %d (ever: %v), reads %q sent at step %d", step, what, name, a.gone, a.ever, text, at)
					}
				}
				continue
			}
			report := err != nil || len(p.Warnings) > 0 || len(p.Rejected) > 0
			for _, m := range p.Messages {
				report = report || m.Rejected != ""
			}
			if report {
				continue
			}
			slices.Sort(readable)
			if agreedBy == "" {
				agreed, agreedBy = readable, name
			} else if !slices.Equal(agreed, readable) {
				t.Fatalf("step %d (%s): %s reads %q, %s reads %q, and neither reports tampering", step, what, agreedBy, agreed, name, readable)
			}
		}
	}
	for step := range steps {
		var what string
		switch {
		case len(undo) > 0 && rng.IntN(3) == 0:
			for _, u := range slices.Backward(undo) {
				raw.Put(c, u.k, u.v)
			}
			undo = nil
			what = "restore what the attacks destroyed"
		case rng.IntN(4) == 0:
			what = "attack: " + attack(step)
		default:
			what = honest(step)
		}
		log = append(log, what)
		check(step, what)
	}
	t.Logf("seed %d (tampered: %v):\n%s", seed, tampered, strings.Join(log, "\n"))
}
