package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
)

// loginStep is where the login stands.
type loginStep int

const (
	stepName       loginStep = iota // asking for the user name
	stepChecking                    // looking for the user's keystore
	stepPass                        // asking for the keystore's passphrase
	stepNewPass                     // offering to set a passphrase for a new identity
	stepRepeat                      // asking for the new passphrase again
	stepConnecting                  // logging in
)

// loginModel asks who the user is: a name, and the passphrase of the
// name's keystore (or a new one for a new name). Errors stay on screen.
type loginModel struct {
	sh     *shared
	width  int
	height int
	help   help.Model

	step    loginStep
	user    string // canonical name being logged in
	isNew   bool
	newPass string
	input   textinput.Model
	err     string

	attempt int                // counts logins started, so a late answer is known
	cancel  context.CancelFunc // ends the login under way; nil if none
}

func newLogin(sh *shared) *loginModel {
	l := &loginModel{sh: sh, help: help.New(), input: sh.st.newInput("> ")}
	l.help.Styles = sh.st.help
	l.input.CharLimit = names.MaxLen
	l.input.Placeholder = "your name"
	return l
}

func (l *loginModel) SetSize(w, h int) {
	l.width, l.height = w, h
	l.input.SetWidth(max(w-20, 10))
	l.help.SetWidth(w - 4)
}

// Init starts with the name question, or skips it when the name was given.
func (l *loginModel) Init() tea.Cmd {
	focus := l.input.Focus()
	if l.sh.opts.User == "" {
		return focus
	}
	l.input.SetValue(l.sh.opts.User)
	return tea.Batch(focus, l.submitName())
}

func (l *loginModel) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case keystoreMsg:
		if l.step != stepChecking || msg.user != l.user {
			return nil
		}
		switch {
		case msg.exists && msg.encrypted:
			l.ask(stepPass)
		case msg.exists:
			return l.connect(nil)
		default:
			l.isNew = true
			l.ask(stepNewPass)
		}
		return nil
	case loginMsg:
		if !l.awaits(msg) {
			return nil
		}
		l.done()
		return l.failed(msg.err)
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, l.sh.keys.Enter):
			if l.step == stepConnecting {
				return nil
			}
			return l.submit()
		case key.Matches(msg, l.sh.keys.Back):
			if l.step == stepConnecting {
				// Stop waiting for the cluster: the login is cancelled
				// and its answer, when it comes, ignored.
				l.done()
			}
			if l.step == stepPass || l.step == stepNewPass || l.step == stepRepeat || l.step == stepConnecting {
				l.err = ""
				l.ask(stepName)
				l.input.SetValue(l.user)
				l.input.CursorEnd()
			}
			return nil
		}
	}
	if l.step == stepChecking || l.step == stepConnecting {
		return nil
	}
	var cmd tea.Cmd
	l.input, cmd = l.input.Update(msg)
	return cmd
}

// ask switches to a question with an empty input.
func (l *loginModel) ask(step loginStep) {
	l.step = step
	l.input.Reset()
	switch step {
	case stepName:
		l.input.EchoMode = textinput.EchoNormal
		l.input.Placeholder = "your name"
		l.input.CharLimit = names.MaxLen
	default:
		l.input.EchoMode = textinput.EchoPassword
		l.input.Placeholder = ""
		l.input.CharLimit = 1024
	}
}

func (l *loginModel) submit() tea.Cmd {
	switch l.step {
	case stepName:
		return l.submitName()
	case stepPass:
		return l.connect([]byte(l.input.Value()))
	case stepNewPass:
		l.newPass = l.input.Value()
		if l.newPass == "" {
			return l.connect(nil)
		}
		l.err = ""
		l.ask(stepRepeat)
	case stepRepeat:
		if l.input.Value() != l.newPass {
			l.err = "The passphrases do not match. Choose one again (or none)."
			l.newPass = ""
			l.ask(stepNewPass)
			return nil
		}
		pass := []byte(l.newPass)
		l.newPass = ""
		return l.connect(pass)
	}
	return nil
}

func (l *loginModel) submitName() tea.Cmd {
	u, err := names.ParseUser(strings.TrimSpace(l.input.Value()))
	if err != nil {
		l.err = fmt.Sprintf("That name cannot be used: %s.", strings.TrimPrefix(err.Error(), names.ErrInvalid.Error()+": "))
		return nil
	}
	l.user, l.err, l.isNew = u.String(), "", false
	l.step = stepChecking
	return keystoreCmd(l.sh.sess, l.user)
}

// connect logs in. The passphrase is never nil, so Login never prompts.
func (l *loginModel) connect(pass []byte) tea.Cmd {
	if pass == nil {
		pass = []byte{}
	}
	l.step = stepConnecting
	l.err = ""
	l.input.Reset()
	l.attempt++
	ctx, cancel := context.WithCancel(l.sh.ctx)
	l.cancel = cancel
	return loginCmd(ctx, l.sh.sess, l.user, pass, l.attempt, l.timeout())
}

// awaits reports whether msg answers the login under way.
func (l *loginModel) awaits(msg loginMsg) bool {
	return l.step == stepConnecting && msg.attempt == l.attempt && msg.user == l.user
}

// done ends the login under way, if any.
func (l *loginModel) done() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
	}
}

// timeout bounds a login: --timeout, or loginTimeout.
func (l *loginModel) timeout() time.Duration {
	if l.sh.opts.Timeout > 0 {
		return l.sh.opts.Timeout
	}
	return loginTimeout
}

// cluster names what a login waits for.
func (l *loginModel) cluster() string {
	if len(l.sh.opts.Endpoints) == 0 {
		return "the local etcd member"
	}
	return "the etcd cluster at " + strings.Join(l.sh.opts.Endpoints, ",")
}

// failed shows why the login failed and asks again where it makes sense.
func (l *loginModel) failed(err error) tea.Cmd {
	switch {
	case errors.Is(err, crypto.ErrWrongPassphrase):
		l.err = "Wrong passphrase. Try again."
		l.ask(stepPass)
	case errors.Is(err, chat.ErrNameTaken):
		l.err = fmt.Sprintf("The name %s is taken by someone else: etcd holds other keys for it. Choose another name (if it is yours and you lost your keystore, quit and restore it with parley identity import FILE).", l.user)
		l.ask(stepName)
	case errors.Is(err, names.ErrInvalid):
		l.err = "That name cannot be used: " + err.Error()
		l.ask(stepName)
	case errors.Is(err, context.DeadlineExceeded):
		what, then := strings.ToUpper(l.cluster()[:1])+l.cluster()[1:], "Press enter to try again."
		if len(l.sh.opts.Endpoints) > 0 {
			then = "Check the endpoints (--endpoints) or raise --timeout, or press enter to try again."
		}
		l.err = fmt.Sprintf("%s did not answer within %v. %s", what, l.timeout(), then)
		l.ask(stepName)
		l.input.SetValue(l.user)
		l.input.CursorEnd()
	default:
		l.err = fmt.Sprintf("Could not log in as %s: %v. Press enter to try again.", l.user, err)
		l.ask(stepName)
		l.input.SetValue(l.user)
		l.input.CursorEnd()
	}
	return nil
}

func (l *loginModel) View() string {
	st := l.sh.st
	lines := []string{
		"",
		"  " + st.title.Render("Parley") + st.subtle.Render("  end-to-end encrypted chat"),
		"",
	}
	question := func(q string) {
		lines = append(lines, "  "+q, "", "  "+l.input.View(), "")
	}
	switch l.step {
	case stepName:
		question("Welcome! What is your username?")
		lines = append(lines, st.subtle.Render("  A new name creates your identity: its keys stay in your home directory,"),
			st.subtle.Render("  the name is claimed in the cluster for them."))
	case stepChecking:
		lines = append(lines, "  Looking for "+l.user+"'s keys…")
	case stepPass:
		question(fmt.Sprintf("Passphrase for %s:", l.user))
	case stepNewPass:
		question(fmt.Sprintf("New identity %s. Choose a passphrase to protect its keys (enter for none):", l.user))
	case stepRepeat:
		question("Repeat the passphrase:")
	case stepConnecting:
		what := "Logging in as " + l.user
		if l.isNew {
			what = "Creating the identity " + l.user
		}
		lines = append(lines, "  "+what+"…", "",
			st.subtle.Render(fmt.Sprintf("  waiting for %s… (up to %v; esc to go back)", l.cluster(), l.timeout())))
	}
	if l.err != "" {
		lines = append(lines, "")
		for _, s := range wrap(l.err, max(l.width-4, 20)) {
			lines = append(lines, "  "+st.err.Render(s))
		}
	}
	body := frame(lines, l.width, max(l.height-1, 0))
	return body + "\n  " + l.help.ShortHelpView(l.sh.keys.LoginHelp())
}
