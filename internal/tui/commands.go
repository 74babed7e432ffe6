package tui

import (
	"fmt"
	"strings"
)

// commandSpec describes one /command of a conversation.
type commandSpec struct {
	name string
	arg  string // the argument's placeholder; "" for none, "[...]" if optional
	help string
	rest bool // the argument is the rest of the line, spaces and all
}

// commandSpecs are the commands, in the order /help lists them.
var commandSpecs = []commandSpec{
	{"join", "ROOM", "ask to join a group room", false},
	{"create", "ROOM", "create a group room and open it", false},
	{"dm", "USER", "open your direct chat with a user", false},
	{"approve", "USER", "let a user who asked into this room (also !USER)", false},
	{"deny", "USER", "refuse a user's request to join this room", false},
	{"leave", "[--delete]", "leave this room; the others rotate its key (--delete: as the last member, close it)", false},
	{"remove", "USER", "remove a member from this room and rotate its key", false},
	{"members", "", "list this room's members and who is online", false},
	{"topic", "[TEXT]", "show this room's topic, or set it (--clear: remove it)", true},
	{"disappear", "[TIME]", "new messages disappear after TIME (30m, 1h, 7d; 0: they stay)", false},
	{"search", "WORDS", "find the messages holding every word, newest first", true},
	{"verify", "USER", "show the safety code you and USER compare out of band", false},
	{"mute", "[ROOM]", "no bell or notification for a room (this one if none)", false},
	{"unmute", "[ROOM]", "the bell and notifications again", false},
	{"rooms", "", "back to the room list", false},
	{"help", "", "show the commands and keys", false},
	{"quit", "", "quit Parley", false},
}

func findCommand(name string) (commandSpec, bool) {
	for _, c := range commandSpecs {
		if c.name == name {
			return c, true
		}
	}
	return commandSpec{}, false
}

// lineKind says what a line typed in a conversation asks for.
type lineKind int

const (
	lineEmpty   lineKind = iota
	lineMessage          // text to send
	lineCommand          // a /command with its argument
	lineInvalid          // a command that cannot run; err says why
)

// typedLine is a parsed input line.
type typedLine struct {
	kind lineKind
	text string // lineMessage: the text to send
	cmd  string // lineCommand: the command's name
	arg  string // lineCommand: its argument, if it takes one
	err  error  // lineInvalid
}

// parseLine reads a line typed in a conversation. "!name" alone approves
// name, as in the original design; "/name arg" runs a command; "//text"
// sends "/text"; anything else is a message.
func parseLine(line string) typedLine {
	trimmed := strings.TrimSpace(line)
	switch {
	case trimmed == "":
		return typedLine{kind: lineEmpty}
	case strings.HasPrefix(trimmed, "//"):
		return typedLine{kind: lineMessage, text: line[strings.Index(line, "/")+1:]}
	case len(trimmed) > 1 && trimmed[0] == '!' && !strings.ContainsAny(trimmed, " \t"):
		return typedLine{kind: lineCommand, cmd: "approve", arg: trimmed[1:]}
	case trimmed[0] != '/':
		return typedLine{kind: lineMessage, text: line}
	}
	fields := strings.Fields(trimmed[1:])
	if len(fields) == 0 {
		return typedLine{kind: lineInvalid, err: fmt.Errorf("type a command after /, or /help")}
	}
	name := strings.ToLower(fields[0])
	spec, ok := findCommand(name)
	if !ok {
		return typedLine{kind: lineInvalid, err: fmt.Errorf("unknown command /%s: type /help for the list (start with // to send a line beginning with /)", fields[0])}
	}
	args := fields[1:]
	optional := strings.HasPrefix(spec.arg, "[")
	if spec.rest {
		// The text after the command's name, as typed.
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimLeft(trimmed[1:], " \t"), fields[0]))
		if rest == "" && !optional {
			return typedLine{kind: lineInvalid, err: fmt.Errorf("usage: /%s %s", spec.name, spec.arg)}
		}
		return typedLine{kind: lineCommand, cmd: spec.name, arg: rest}
	}
	switch {
	case optional && len(args) > 1:
		return typedLine{kind: lineInvalid, err: fmt.Errorf("usage: /%s %s", spec.name, spec.arg)}
	case optional:
	case spec.arg != "" && len(args) != 1:
		return typedLine{kind: lineInvalid, err: fmt.Errorf("usage: /%s %s", spec.name, spec.arg)}
	case spec.arg == "" && len(args) != 0:
		return typedLine{kind: lineInvalid, err: fmt.Errorf("usage: /%s (no argument)", spec.name)}
	}
	tl := typedLine{kind: lineCommand, cmd: spec.name}
	if len(args) == 1 {
		tl.arg = args[0]
		if spec.arg == "USER" {
			tl.arg = strings.TrimPrefix(tl.arg, "@")
		}
	}
	return tl
}

// helpLines is what /help prints.
func helpLines(k KeyMap) []string {
	out := []string{"Commands:"}
	for _, c := range commandSpecs {
		use := "/" + c.name
		if c.arg != "" {
			use += " " + c.arg
		}
		out = append(out, fmt.Sprintf("  %-16s %s", use, c.help))
	}
	out = append(out, fmt.Sprintf("  %-16s %s", "!USER", "approve USER's request to join"), "Keys:")
	// Keys go several to a line, as the help line of other screens.
	line := " "
	for _, b := range append(k.ConversationHelp(), k.SelectHelp()[1:5]...) {
		h := b.Help()
		item := " " + h.Key + " " + h.Desc
		if len(line)+len(item)+2 > 76 {
			out = append(out, line)
			line = " "
		} else if line != " " {
			item = " ·" + item
		}
		line += item
	}
	return append(out, line, "  (r, e, d and a act on the message selected with alt+↑)")
}
