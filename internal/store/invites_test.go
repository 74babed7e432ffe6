package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// TestRedeem checks an invitation's life: two machines racing for its
// one use get it once between them; a wrong secret, an expired and a
// revoked invitation are each refused as such; names stay unique.
func TestRedeem(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	now := time.Now()
	put := func(id string, uses int, expires time.Time) {
		t.Helper()
		if err := st.PutInvite(ctx, store.Invite{ID: id, Role: "voter", SecretHash: hashOf(id), Created: now, Expires: expires, Uses: uses}); err != nil {
			t.Fatal(err)
		}
	}
	put("0000000000a1", 1, now.Add(time.Hour))
	if err := st.PutInvite(ctx, store.Invite{ID: "0000000000a1", Role: "voter", SecretHash: hashOf("x"), Expires: now, Uses: 1}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second PutInvite = %v, want ErrExists", err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, _, errs[i] = st.Redeem(ctx, "0000000000a1", hashOf("0000000000a1"), now, store.Machine{Name: "box", Serial: "ab"})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrInviteUsed):
			t.Errorf("racing Redeem = %v, want ErrInviteUsed", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d machines redeemed a single-use invitation", won)
	}

	put("0000000000a2", 3, now.Add(time.Hour))
	for i, want := range []string{"box-2", "box-3"} {
		_, m, err := st.Redeem(ctx, "0000000000a2", hashOf("0000000000a2"), now, store.Machine{Name: "box", Serial: "cd"})
		if err != nil || m.Name != want || m.Role != "voter" || m.Invite != "0000000000a2" {
			t.Fatalf("redeem %d = %+v, %v; want machine %s", i, m, err, want)
		}
	}
	if _, _, err := st.Redeem(ctx, "0000000000a2", hashOf("wrong"), now, store.Machine{Name: "x", Serial: "1"}); !errors.Is(err, store.ErrInviteUnknown) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, _, err := st.Redeem(ctx, "0000000000ff", hashOf("0000000000ff"), now, store.Machine{Name: "x", Serial: "1"}); !errors.Is(err, store.ErrInviteUnknown) {
		t.Errorf("unknown id: %v", err)
	}
	put("0000000000a3", 1, now.Add(-time.Second))
	if _, _, err := st.Redeem(ctx, "0000000000a3", hashOf("0000000000a3"), now, store.Machine{Name: "x", Serial: "1"}); !errors.Is(err, store.ErrInviteExpired) {
		t.Errorf("expired: %v", err)
	}
	put("0000000000a4", 1, now.Add(time.Hour))
	if err := st.RevokeInvite(ctx, "0000000000a4"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Redeem(ctx, "0000000000a4", hashOf("0000000000a4"), now, store.Machine{Name: "x", Serial: "1"}); !errors.Is(err, store.ErrInviteRevoked) {
		t.Errorf("revoked: %v", err)
	}
	invs, bad, err := st.Invites(ctx)
	if err != nil || len(bad) != 0 || len(invs) != 4 {
		t.Fatalf("Invites = %d, %v, %v", len(invs), bad, err)
	}
	states := map[string]string{}
	for _, inv := range invs {
		states[inv.ID] = inv.State(now)
		if bytes.Equal(inv.SecretHash, []byte(inv.ID)) {
			t.Errorf("invitation %s stores its secret", inv.ID)
		}
	}
	if states["0000000000a1"] != "used" || states["0000000000a2"] != "active" || states["0000000000a3"] != "expired" || states["0000000000a4"] != "revoked" {
		t.Errorf("states %v", states)
	}

	// Revoking a machine records its serial and forgets the machine.
	m, err := st.RevokeMachine(ctx, "box-2", "test")
	if err != nil || m.Serial != "cd" {
		t.Fatalf("RevokeMachine = %+v, %v", m, err)
	}
	revs, _, err := st.Revocations(ctx)
	if err != nil || len(revs) != 1 || revs[0].Serial != "cd" || revs[0].Name != "box-2" {
		t.Fatalf("Revocations = %+v, %v", revs, err)
	}
	ms, err := st.Machines(ctx, false)
	if err != nil || len(ms) != 2 || ms[0].Name != "box" || ms[1].Name != "box-3" {
		t.Fatalf("Machines = %+v, %v", ms, err)
	}
	if _, err := st.RevokeMachine(ctx, "box-2", "again"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking a machine twice: %v", err)
	}
}
