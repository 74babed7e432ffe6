package store

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecodeClusterRecords covers the decoders of invitations, machines
// and revocations read from etcd: no panic, and what decodes re-encodes
// to a record that decodes the same.
func FuzzDecodeClusterRecords(f *testing.F) {
	inv, _ := json.Marshal(Invite{ID: "0123456789ab", Role: "voter", SecretHash: make([]byte, 32), Created: time.Unix(1, 0).UTC(), Expires: time.Unix(2, 0).UTC(), Uses: 1})
	f.Add("0123456789ab", inv)
	m, _ := json.Marshal(Machine{Name: "box", Role: "client", Serial: "ab12", Joined: time.Unix(1, 0).UTC()})
	f.Add("box", m)
	r, _ := json.Marshal(Revocation{Serial: "ab12", Name: "box", Time: time.Unix(1, 0).UTC()})
	f.Add("ab12", r)
	f.Add("x", []byte(`{"id":"x","uses":-1}`))
	f.Fuzz(func(t *testing.T, name string, v []byte) {
		if i, err := decodeInvite(inviteKey(name), v); err == nil {
			b, _ := json.Marshal(i)
			if j, err := decodeInvite(inviteKey(name), b); err != nil || j.ID != i.ID || j.Uses != i.Uses || j.Used != i.Used {
				t.Fatalf("invitation %+v did not round-trip: %+v %v", i, j, err)
			}
		}
		if m, err := decodeMachine(machineKey(name), v); err == nil {
			b, _ := json.Marshal(m)
			if n, err := decodeMachine(machineKey(name), b); err != nil || n.Name != m.Name || n.Serial != m.Serial {
				t.Fatalf("machine %+v did not round-trip: %+v %v", m, n, err)
			}
		}
		if r, err := decodeRevocation(revokedKey(name), v); err == nil {
			b, _ := json.Marshal(r)
			if s, err := decodeRevocation(revokedKey(name), b); err != nil || s.Serial != r.Serial {
				t.Fatalf("revocation %+v did not round-trip: %+v %v", r, s, err)
			}
		}
	})
}
