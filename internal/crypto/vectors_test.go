package crypto

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vectors pins the encodings of this package. Signatures, envelopes, chain
// hashes, fingerprints and unencrypted keystores are deterministic and are
// compared byte for byte; wraps and encrypted keystores are randomized, so
// the committed ones are checked to open to the expected values.
type vectors struct {
	Name        string `json:"name"`
	SigningSeed string `json:"signing_seed"`
	KEMSeed     string `json:"kem_seed"`
	SigningKey  string `json:"signing_key"`
	KEMKey      string `json:"kem_key"`
	Fingerprint string `json:"fingerprint"`

	SignLabel   string `json:"sign_label"`
	SignMessage string `json:"sign_message"`
	Signature   string `json:"signature"`

	RoomKey   string `json:"room_key"`
	Room      string `json:"room"`
	MessageID string `json:"message_id"`
	Epoch     uint32 `json:"epoch"`
	Seq       uint64 `json:"seq"`
	Prev      string `json:"prev"`
	Time      int64  `json:"time"`
	Plaintext string `json:"plaintext"`
	Envelope  string `json:"envelope"`
	ChainHash string `json:"chain_hash"`

	WrapInfo string   `json:"wrap_info"`
	WrapKeys []string `json:"wrap_keys"`
	Wrap     string   `json:"wrap"`

	KeystorePlain      string `json:"keystore_plain"`
	KeystorePassphrase string `json:"keystore_passphrase"`
	KeystoreEncrypted  string `json:"keystore_encrypted"`
}

var vectorsFile = filepath.Join("testdata", "vectors.json")

func TestVectors(t *testing.T) {
	var v vectors
	if *update {
		v = vectors{
			Name:               "alice",
			SigningSeed:        hex.EncodeToString(seedFor("alice signing")),
			KEMSeed:            hex.EncodeToString(seedFor("alice kem")),
			SignLabel:          "parley/v1/test-vector",
			SignMessage:        "the quick brown fox",
			RoomKey:            hex.EncodeToString(seedFor("room key general 1")),
			Room:               "general",
			MessageID:          "fffe4a3b2c1d0e0f0123456789abcdef",
			Epoch:              1,
			Seq:                2,
			Prev:               "000102030405060708090a0b0c0d0e0f",
			Time:               1767225600000,
			Plaintext:          "hello, parley",
			WrapInfo:           "general/2/alice",
			WrapKeys:           []string{hex.EncodeToString(seedFor("room key general 1")), hex.EncodeToString(seedFor("room key general 2"))},
			KeystorePassphrase: "correct horse battery staple",
		}
	} else {
		data, err := os.ReadFile(vectorsFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
	}

	id, err := newIdentityFromSeeds(v.Name, unhex(t, v.SigningSeed), unhex(t, v.KEMSeed))
	if err != nil {
		t.Fatal(err)
	}
	key, err := RoomKeyFromBytes(unhex(t, v.RoomKey))
	if err != nil {
		t.Fatal(err)
	}
	mid, err := ParseMessageID(v.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	h := Header{Commit: v.Epoch, Sender: v.Name, Seq: v.Seq, Time: v.Time}
	copy(h.Prev[:], unhex(t, v.Prev))
	sealed, err := SealMessage(id, key, v.Room, mid, h, []byte(v.Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEnvelope(sealed)
	if err != nil {
		t.Fatal(err)
	}
	chain := e.ChainHash()
	var wrapKeys []RoomKey
	for _, s := range v.WrapKeys {
		k, err := RoomKeyFromBytes(unhex(t, s))
		if err != nil {
			t.Fatal(err)
		}
		wrapKeys = append(wrapKeys, k)
	}
	plainKeystore := marshalTestKeystore(t, id, "")

	got := map[string][2]string{
		"signing_key":    {v.SigningKey, hex.EncodeToString(id.Public().SigningKey())},
		"kem_key":        {v.KEMKey, hex.EncodeToString(id.Public().KEMKey())},
		"fingerprint":    {v.Fingerprint, id.Public().Fingerprint()},
		"signature":      {v.Signature, hex.EncodeToString(id.Sign(v.SignLabel, []byte(v.SignMessage)))},
		"envelope":       {v.Envelope, hex.EncodeToString(sealed)},
		"chain_hash":     {v.ChainHash, hex.EncodeToString(chain[:])},
		"keystore_plain": {v.KeystorePlain, string(plainKeystore)},
	}

	if *update {
		v.SigningKey = got["signing_key"][1]
		v.KEMKey = got["kem_key"][1]
		v.Fingerprint = got["fingerprint"][1]
		v.Signature = got["signature"][1]
		v.Envelope = got["envelope"][1]
		v.ChainHash = got["chain_hash"][1]
		v.KeystorePlain = got["keystore_plain"][1]
		wrapped, err := WrapKeys(id.Public(), []byte(v.WrapInfo), wrapKeys)
		if err != nil {
			t.Fatal(err)
		}
		v.Wrap = hex.EncodeToString(wrapped)
		v.KeystoreEncrypted = string(marshalTestKeystore(t, id, v.KeystorePassphrase))
		data, err := json.MarshalIndent(v, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		for name, g := range got {
			if g[0] != g[1] {
				t.Errorf("%s:\n got %s\nwant %s", name, g[1], g[0])
			}
		}
	}

	// The committed values open and verify.
	e, err = ParseEnvelope(unhex(t, v.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(v.Room, mid, id.Public()); err != nil {
		t.Error(err)
	}
	if pt, err := e.Open(key, v.Room, mid); err != nil || string(pt) != v.Plaintext {
		t.Errorf("Open: %q, %v", pt, err)
	}
	if !id.Public().Verify(v.SignLabel, []byte(v.SignMessage), unhex(t, v.Signature)) {
		t.Error("signature does not verify")
	}
	keys, err := id.UnwrapKeys([]byte(v.WrapInfo), unhex(t, v.Wrap))
	if err != nil {
		t.Fatal(err)
	}
	if !equalKeys(keys, wrapKeys) {
		t.Error("wrap opens to other keys")
	}
	for _, ks := range []struct{ data, pass string }{
		{v.KeystorePlain, ""},
		{v.KeystoreEncrypted, v.KeystorePassphrase},
	} {
		got, err := UnmarshalKeystore([]byte(ks.data), []byte(ks.pass))
		if err != nil {
			t.Fatal(err)
		}
		if !sameIdentity(got, id) {
			t.Error("keystore opens to another identity")
		}
	}
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
