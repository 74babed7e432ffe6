package tui

import (
	"testing"
	"time"

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

// With the cluster unreachable, the login says what it waits for and
// gives up after --timeout (it used to wait over a minute, saying only
// "Creating the identity").
func TestLoginUnreachableClusterBoundedByTimeout(t *testing.T) {
	t.Parallel()
	d := newDriver(t, newSession(openStore(t, []string{"127.0.0.1:1"})), Options{
		User: "zed", Endpoints: []string{"127.0.0.1:1"}, Timeout: time.Second,
	})
	d.waitText("New identity zed")
	d.enter()
	d.waitText("Creating the identity zed", "waiting for the etcd cluster at 127.0.0.1:1")
	d.waitText("The etcd cluster at 127.0.0.1:1 did not answer within 1s")
	if d.m.screen != screenLogin || d.m.login.step != stepName || d.m.login.input.Value() != "zed" {
		t.Fatalf("after the timeout: screen %d, step %d, name %q; want the name question with zed", d.m.screen, d.m.login.step, d.m.login.input.Value())
	}
}

// Esc while the login waits for the cluster goes back to the name, and
// the abandoned login, when it ends, changes nothing.
func TestLoginEscWhileWaitingForTheCluster(t *testing.T) {
	t.Parallel()
	d := newDriver(t, newSession(openStore(t, []string{"127.0.0.1:1"})), Options{
		Endpoints: []string{"127.0.0.1:1"}, Timeout: time.Minute,
	})
	d.line("zed")
	d.waitText("New identity zed")
	d.enter()
	d.waitText("waiting for the etcd cluster at 127.0.0.1:1", "esc")
	d.press(tea.KeyEscape)
	d.waitText("What is your username?")
	if v := d.m.login.input.Value(); v != "zed" {
		t.Fatalf("name field = %q, want the name typed before", v)
	}
	// The abandoned login ends at once (its context is cancelled) and
	// leaves the name question as it is.
	for ended, limit := false, time.After(waitLimit); !ended; {
		select {
		case msg := <-d.msgs:
			_, ended = msg.(loginMsg)
			d.send(msg)
		case <-limit:
			t.Fatalf("the abandoned login did not end within %v", waitLimit)
		}
	}
	if d.m.screen != screenLogin || d.m.login.step != stepName || d.m.login.err != "" {
		t.Fatalf("after the abandoned login ended: screen %d, step %d, error %q", d.m.screen, d.m.login.step, d.m.login.err)
	}
}
