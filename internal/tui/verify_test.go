package tui

import (
	"strings"
	"testing"
)

// /verify USER shows the safety code of the pair, the same bob's client
// computes, with both fingerprints; a verified mark shows there and in
// /members.
func TestConversationVerify(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	bob := login(t, st, "bob")
	want, err := bob.Safety(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	groups := strings.Fields(want.Code)
	if len(groups) != 12 {
		t.Fatalf("bob's code %q", want.Code)
	}

	d.line("/verify @bob")
	d.waitText("Safety code of alice and bob:",
		strings.Join(groups[0:4], " "), strings.Join(groups[4:8], " "), strings.Join(groups[8:12], " "),
		"bob    "+bob.Fingerprint(), "alice  "+want.Fingerprint,
		"bob is not verified", "If it matches: parley verify bob --mark")

	d.line("/verify alice")
	d.waitText("that is you")
	d.line("/verify nobody")
	d.waitText("no such user")
	d.line("/verify")
	d.waitText("usage: /verify USER")

	// Marked verified (as parley verify --mark does), bob carries the mark.
	if err := bob.RequestJoin(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	d.waitText("bob wants to join")
	d.line("!bob")
	d.waitText("bob joined (approved by alice)")
	if err := d.m.sh.svc.MarkVerified(ctx, "bob", bob.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	d.line("/verify bob")
	d.waitText("You marked bob verified with this key.")
	d.line("/members")
	d.waitText("approved by alice, verified")
}

func TestHelpListsVerify(t *testing.T) {
	if tl := parseLine("/verify @bob"); tl.kind != lineCommand || tl.cmd != "verify" || tl.arg != "bob" {
		t.Errorf("parseLine(/verify @bob) = %+v", tl)
	}
	if !strings.Contains(strings.Join(helpLines(DefaultKeyMap()), "\n"), "/verify USER") {
		t.Error("/help does not show /verify USER")
	}
}
