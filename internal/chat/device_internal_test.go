package chat

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
)

// FuzzOpenLinkRecords feeds the link request and answer decoders whatever
// etcd may hold under a code's id: they never panic, and nothing opens
// without the code's MAC.
func FuzzOpenLinkRecords(f *testing.F) {
	code := crypto.NewLinkCode()
	dev, _ := crypto.NewIdentity("alice")
	r := linkRequest{SigningKey: dev.Public().SigningKey(), KEMKey: dev.Public().KEMKey(), Label: "x", Created: time.Unix(1, 0).UTC()}
	r.MAC = code.MAC("request", r.macParts("alice")...)
	rb, _ := json.Marshal(r)
	f.Add(rb)
	a := linkAnswer{SigningKey: dev.Public().SigningKey(), KEMKey: dev.Public().KEMKey(), Cert: []byte("{}")}
	a.MAC = code.MAC("answer", a.macParts("alice")...)
	ab, _ := json.Marshal(a)
	f.Add(ab)
	f.Add([]byte(`{"mac":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if r, p, err := openLinkRequest(code, "alice", raw); err == nil {
			if !code.CheckMAC(r.MAC, "request", r.macParts("alice")...) || p == nil {
				t.Fatal("a request opened without its MAC")
			}
		}
		if a, p, err := openLinkAnswer(code, "alice", raw); err == nil {
			if !code.CheckMAC(a.MAC, "answer", a.macParts("alice")...) || p == nil {
				t.Fatal("an answer opened without its MAC")
			}
		}
		// Another code opens nothing.
		other := crypto.NewLinkCode()
		if _, _, err := openLinkRequest(other, "alice", raw); err == nil {
			t.Fatal("a request opened under another code")
		}
		if _, _, err := openLinkAnswer(other, "alice", raw); err == nil {
			t.Fatal("an answer opened under another code")
		}
	})
}
