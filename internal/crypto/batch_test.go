package crypto

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBatchVerifier(t *testing.T) {
	alice, _ := NewIdentity("alice")
	bob, _ := NewIdentity("bob")
	key := NewRoomKey()
	type item struct {
		env  *Envelope
		id   MessageID
		from *PublicIdentity
		room string
		bad  bool
	}
	var items []item
	for i := range 40 {
		id := NewMessageID(time.Now())
		sender := alice
		if i%3 == 0 {
			sender = bob
		}
		raw, err := SealMessage(sender, key, "r", id, Header{Commit: 1, Sender: sender.Name(), Seq: uint64(i + 1), Time: 1}, []byte(fmt.Sprint("m", i)))
		if err != nil {
			t.Fatal(err)
		}
		it := item{id: id, from: sender.Public(), room: "r"}
		switch i {
		case 7: // claimed by the wrong identity
			it.from, it.bad = bob.Public(), true
		case 19: // a flipped signature bit
			raw[len(raw)-3] ^= 1
			it.bad = true
		case 31: // moved to another room
			it.room, it.bad = "elsewhere", true
		}
		env, err := ParseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		it.env = env
		items = append(items, it)
	}
	for _, subset := range [][]item{items, items[:5], items[8:19]} {
		var b BatchVerifier
		for _, it := range subset {
			b.Add(it.env, it.room, it.id, it.from)
		}
		errs := b.Verify()
		if len(errs) != len(subset) || b.Len() != 0 {
			t.Fatalf("Verify returned %d results for %d items, %d left", len(errs), len(subset), b.Len())
		}
		for i, it := range subset {
			if (errs[i] != nil) != it.bad {
				t.Errorf("item %d: err %v, want bad=%v", i, errs[i], it.bad)
			}
			if errs[i] != nil && !errors.Is(errs[i], ErrBadSignature) {
				t.Errorf("item %d: %v does not wrap ErrBadSignature", i, errs[i])
			}
			// One at a time gives the same answer.
			if single := it.env.Verify(it.room, it.id, it.from); (single != nil) != it.bad {
				t.Errorf("item %d: Verify = %v, batch said bad=%v", i, single, it.bad)
			}
		}
	}
}

func BenchmarkBatchVerify64(b *testing.B) {
	alice, _ := NewIdentity("alice")
	key := NewRoomKey()
	var envs []*Envelope
	var ids []MessageID
	for i := range 64 {
		id := NewMessageID(time.Now())
		raw, _ := SealMessage(alice, key, "r", id, Header{Commit: 1, Sender: "alice", Seq: uint64(i + 1), Time: 1}, make([]byte, 200))
		env, _ := ParseEnvelope(raw)
		envs, ids = append(envs, env), append(ids, id)
	}
	b.ReportAllocs()
	var bv BatchVerifier
	for b.Loop() {
		for i, e := range envs {
			bv.Add(e, "r", ids[i], alice.Public())
		}
		for _, err := range bv.Verify() {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*64), "us/envelope")
}
