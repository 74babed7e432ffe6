package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// A name claimed by other keys is an error on the login screen; another
// name then logs in and creates its identity.
func TestLoginNameTakenStaysOnScreen(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	login(t, st, "alice") // someone else's alice
	d := newDriver(t, newSession(st), Options{})
	d.waitText("What is your username?")

	d.line("Alice") // names fold to lower case
	d.waitText("New identity alice")
	d.enter() // no passphrase
	d.waitText("The name alice is taken by someone else")
	if d.m.screen != screenLogin || d.m.login.step != stepName {
		t.Fatalf("after a taken name: screen %d, step %d; want the name question again", d.m.screen, d.m.login.step)
	}

	d.line("carol")
	d.waitText("New identity carol")
	d.enter()
	d.waitText("logged in as carol", "There are no rooms yet")
	if d.m.sh.svc == nil || d.m.sh.svc.Me() != "carol" {
		t.Fatalf("logged in as %v", d.m.sh.svc)
	}
}

// An invalid name is refused before anything is looked up.
func TestLoginInvalidName(t *testing.T) {
	t.Parallel()
	d := newDriver(t, newSession(nil), Options{})
	d.line("no spaces")
	d.waitText("That name cannot be used")
	if d.m.login.step != stepName {
		t.Fatalf("step %d after an invalid name", d.m.login.step)
	}
}

// --user skips the name; a wrong passphrase is an error on the same
// screen and the right one logs in.
func TestLoginPresetUserWrongPassphrase(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	sess := newSession(st)
	sess.addKeystore(t, "dave", "s3cret")
	d := newDriver(t, sess, Options{User: "dave"})
	d.waitText("Passphrase for dave:")
	if d.m.login.step != stepPass {
		t.Fatalf("step %d; want the passphrase question", d.m.login.step)
	}
	d.line("wrong")
	d.waitText("Wrong passphrase. Try again.", "Passphrase for dave:")
	if d.m.screen != screenLogin {
		t.Fatal("a wrong passphrase left the login screen")
	}
	if got := d.screen(); contains(got, "wrong") || contains(got, "s3cret") {
		t.Fatalf("the passphrase is echoed:\n%s", got)
	}
	d.line("s3cret")
	d.waitText("logged in as dave")
}

// A new identity may get a passphrase, typed twice; a mismatch asks again.
func TestLoginNewPassphraseTwice(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	sess := newSession(st)
	d := newDriver(t, sess, Options{})
	d.line("erin")
	d.waitText("New identity erin")
	d.line("abc")
	d.waitText("Repeat the passphrase")
	d.line("abd")
	d.waitText("The passphrases do not match")
	if d.m.login.step != stepNewPass {
		t.Fatalf("step %d after a mismatch", d.m.login.step)
	}
	d.line("abc")
	d.line("abc")
	d.waitText("logged in as erin")
	if exists, enc := sess.KeystoreExists("erin"); !exists || !enc {
		t.Fatalf("keystore of erin: exists %v, encrypted %v", exists, enc)
	}
}

// Esc on the passphrase question goes back to the name.
func TestLoginEscBackToName(t *testing.T) {
	t.Parallel()
	d := newDriver(t, newSession(nil), Options{})
	d.line("frank")
	d.waitText("New identity frank")
	d.press(tea.KeyEscape)
	d.waitText("What is your username?")
	if v := d.m.login.input.Value(); v != "frank" {
		t.Fatalf("name field = %q, want the name typed before", v)
	}
}
