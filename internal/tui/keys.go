package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key binding of the interface, with its help text. Each
// screen shows the bindings that apply to it (see the *Help methods).
type KeyMap struct {
	Quit     key.Binding // everywhere
	QuitList key.Binding // room list only, where no text is typed
	Back     key.Binding // leave a prompt or screen; cancel a join request

	Up     key.Binding
	Down   key.Binding
	Enter  key.Binding
	Number key.Binding // typing a room's number selects it
	Create key.Binding
	Direct key.Binding
	Reload key.Binding

	PageUp   key.Binding
	PageDown key.Binding
	Bottom   key.Binding
	HistPrev key.Binding
	HistNext key.Binding
	Complete key.Binding
	NextRoom key.Binding
	PrevRoom key.Binding
	GotoRoom key.Binding
	Panel    key.Binding

	// Selecting a message of the transcript, and acting on it.
	Select     key.Binding // start selecting, or move to an older message
	SelectNext key.Binding // a newer message
	SelPrev    key.Binding // while selecting: older
	SelNext    key.Binding // while selecting: newer
	Reply      key.Binding
	Edit       key.Binding
	Delete     key.Binding
	React      key.Binding
	Yes        key.Binding // confirm a deletion
	No         key.Binding
}

// DefaultKeyMap returns Parley's key bindings.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:     key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		QuitList: key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),

		Up:     key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:   key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Enter:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Number: key.NewBinding(key.WithKeys("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("0-9", "choose by number")),
		Create: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "create a room")),
		Direct: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "direct chat")),
		Reload: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),

		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "older")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "newer")),
		Bottom:   key.NewBinding(key.WithKeys("ctrl+end", "ctrl+g"), key.WithHelp("ctrl+g", "newest")),
		HistPrev: key.NewBinding(key.WithKeys("up"), key.WithHelp("↑/↓", "input history")),
		HistNext: key.NewBinding(key.WithKeys("down")),
		Complete: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		NextRoom: key.NewBinding(key.WithKeys("ctrl+n"), key.WithHelp("ctrl+n/p", "next/previous room")),
		PrevRoom: key.NewBinding(key.WithKeys("ctrl+p")),
		GotoRoom: key.NewBinding(
			key.WithKeys("alt+0", "alt+1", "alt+2", "alt+3", "alt+4", "alt+5", "alt+6", "alt+7", "alt+8", "alt+9"),
			key.WithHelp("alt+0-9", "room by number"),
		),
		Panel: key.NewBinding(key.WithKeys("ctrl+o"), key.WithHelp("ctrl+o", "members panel")),

		Select:     key.NewBinding(key.WithKeys("alt+up", "ctrl+up"), key.WithHelp("alt+↑/↓", "select a message")),
		SelectNext: key.NewBinding(key.WithKeys("alt+down", "ctrl+down")),
		SelPrev:    key.NewBinding(key.WithKeys("up", "k", "alt+up", "ctrl+up"), key.WithHelp("↑/↓", "older/newer")),
		SelNext:    key.NewBinding(key.WithKeys("down", "j", "alt+down", "ctrl+down")),
		Reply:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reply")),
		Edit:       key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit yours")),
		Delete:     key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete yours")),
		React:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "react")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no")),
	}
}

// LoginHelp lists the bindings of the login screen.
func (k KeyMap) LoginHelp() []key.Binding {
	enter := k.Enter
	enter.SetHelp("enter", "continue")
	return []key.Binding{enter, k.Back, k.Quit}
}

// RoomsHelp lists the bindings of the room list.
func (k KeyMap) RoomsHelp() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Number, k.Enter, k.Create, k.Direct, k.QuitList}
}

// PromptHelp lists the bindings while the room list asks for a name.
func (k KeyMap) PromptHelp() []key.Binding {
	enter := k.Enter
	enter.SetHelp("enter", "confirm")
	back := k.Back
	back.SetHelp("esc", "cancel")
	return []key.Binding{enter, back}
}

// WaitingHelp lists the bindings of the waiting screen.
func (k KeyMap) WaitingHelp() []key.Binding {
	back := k.Back
	back.SetHelp("esc", "cancel the request")
	return []key.Binding{back, k.Quit}
}

// ConversationHelp lists the bindings of a conversation.
func (k KeyMap) ConversationHelp() []key.Binding {
	back := k.Back
	back.SetHelp("esc", "room list")
	return []key.Binding{k.PageUp, k.PageDown, k.Bottom, k.HistPrev, k.Select, k.Complete, k.NextRoom, k.GotoRoom, k.Panel, back, k.Quit}
}

// SelectHelp lists the bindings while a message is selected.
func (k KeyMap) SelectHelp() []key.Binding {
	back := k.Back
	back.SetHelp("esc", "done")
	return []key.Binding{k.SelPrev, k.Reply, k.Edit, k.Delete, k.React, back}
}

// ResultsHelp lists the bindings of a list of search results.
func (k KeyMap) ResultsHelp() []key.Binding {
	up := k.SelPrev
	up.SetHelp("↑/↓", "move")
	enter := k.Enter
	enter.SetHelp("enter", "show in the transcript")
	back := k.Back
	back.SetHelp("esc", "close")
	return []key.Binding{up, enter, back}
}
