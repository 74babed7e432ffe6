package store

import (
	"testing"
	"time"
)

// FuzzDecodeDeviceRecords feeds the decoders of device certificates,
// revocations and identity changes whatever etcd may hold: they never
// panic, and what they accept matches its key.
func FuzzDecodeDeviceRecords(f *testing.F) {
	alice := newSigner("alice")
	dv, _ := seal(KindDevice, deviceKey("alice", "0123456789abcdef"), Device{User: "alice", ID: "0123456789abcdef", SigningKey: []byte{1}, KEMKey: []byte{2}, Label: "laptop", Created: time.Unix(1, 0)}, alice)
	f.Add(uint8(0), dv)
	rv, _ := seal(KindRevoke, revokeKey("alice", "0123456789abcdef"), DeviceRevocation{User: "alice", ID: "0123456789abcdef"}, alice)
	f.Add(uint8(1), rv)
	kv, _ := seal(KindRekey, rekeyKey("alice", 1), Rekey{User: "alice", N: 1, Prev: []byte{3}, SigningKey: []byte{1}, KEMKey: []byte{2}}, alice)
	f.Add(uint8(2), kv)
	f.Add(uint8(0), []byte(`{"kind":"device","signer":"alice","body":{"user":"alice","id":"0123456789abcdef","via":"x"},"sig":"AAAA"}`))
	f.Fuzz(func(t *testing.T, which uint8, value []byte) {
		const id = "0123456789abcdef"
		switch which % 3 {
		case 0:
			d, err := decodeDevice(deviceKey("alice", id), "alice", id, value, 1, 1)
			if err != nil {
				return
			}
			if d.Body.User != "alice" || d.Body.ID != id || d.Signer != "alice" || len(d.Body.Label) > maxDeviceLabel || (d.Body.Via != "" && d.Body.Via != "recovery") {
				t.Fatalf("certificate %+v by %q accepted at the key of device %s of alice", d.Body, d.Signer, id)
			}
			if _, err := DecodeDevice("alice", id, value); err != nil {
				t.Fatalf("DecodeDevice refuses what decodeDevice accepts: %v", err)
			}
		case 1:
			r, err := decodeDeviceRevocation(revokeKey("alice", id), "alice", id, value, 1, 1)
			if err == nil && (r.Body.User != "alice" || r.Body.ID != id || r.Signer != "alice") {
				t.Fatalf("revocation %+v accepted for device %s of alice", r.Body, id)
			}
		case 2:
			r, err := decodeRekey(rekeyKey("alice", 1), "alice", 1, value, 1, 1)
			if err == nil && (r.Body.User != "alice" || r.Body.N != 1 || r.Signer != "alice") {
				t.Fatalf("identity change %+v accepted as alice's first", r.Body)
			}
		}
	})
}
