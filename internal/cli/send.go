package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
)

func (a *App) sendCmd() *cobra.Command {
	var asJSON bool
	var replyTo string
	c := &cobra.Command{
		Use:   "send ROOM TEXT...",
		Short: "Send a message (TEXT '-' sends one message per line of stdin)",
		Long: `Send a message to ROOM. With TEXT '-', send one message per line of stdin,
in order, until it ends: a line that cannot be sent (too long, say) is
reported and the others still go; the exit status is then non-zero.

While the cluster is unavailable, messages wait in the outbox in your home
(see parley outbox). send delivers what waits there first, in the
background, and before it exits; a message sent while others wait goes
after them.

--reply-to ID sends the message as a reply to message ID of ROOM (see
parley read ROOM --json for the ids): readers show it under the line it
answers. A reply needs the cluster, which checks that ID is a message of
ROOM, so it is never queued.`,
		Example: `  parley send general hello everyone
  parley send @bob 'see you at 5'
  parley send --reply-to 7ffe3c0d2a9b41e6a0c1d2e3f4a5b6c7 general yes, at noon
  tail -f build.log | parley send builds -`,
		Args: func(cmd *cobra.Command, argv []string) error {
			if len(argv) < 2 {
				return usagef("send needs a room and the text")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			if replyTo != "" {
				if _, err := messageID(replyTo); err != nil {
					return err
				}
			}
			ctx, cancel := a.op(cmd)
			s, err := a.Service(ctx)
			cancel()
			if err != nil {
				return err
			}
			room, err := s.ParseRoom(argv[0])
			if err != nil {
				return err
			}
			send := func(ctx context.Context, text string) error {
				ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
				defer cancel()
				var m chat.Message
				var err error
				if replyTo != "" {
					m, err = s.Reply(ctx, room, replyTo, text)
				} else {
					m, err = s.SendOrQueue(ctx, room, text, a.queueAfter())
				}
				if err != nil {
					return err
				}
				if _, down, _ := s.OutboxStatus(); m.Pending && down {
					a.note("parley: cluster unavailable: message %s queued, it will be sent once when the cluster is back", m.ID)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), messageJSON(m))
				}
				return nil
			}
			stop := a.deliverInBackground(cmd.Context(), s)
			if len(argv) == 2 && argv[1] == "-" {
				err = readLines(cmd.Context(), a.env.Stdin, send, func(err error) {
					a.warn("%v", err)
				})
			} else {
				err = send(cmd.Context(), strings.Join(argv[1:], " "))
			}
			stop()
			if cmd.Context().Err() == nil {
				a.flushOutbox(cmd.Context(), s)
			}
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print each sent message as JSON")
	c.Flags().StringVar(&replyTo, "reply-to", "", "send as a reply to the message with this id")
	return c
}

// stdinLine is one line of stdin, numbered from 1, or why it cannot be
// sent.
type stdinLine struct {
	n    int
	text string
	err  error
}

// readLines calls fn for each line of r, in order, skipping empty lines,
// until r or ctx ends. A line that fails, or is longer than a message may
// be, goes to failed, and the lines after it are still read; the error
// returned then counts the failed lines and wraps the first failure. Once
// ctx ends readLines returns at once, even while r blocks (the goroutine
// reading it ends with r), and no line is passed to fn any more.
func readLines(ctx context.Context, r io.Reader, fn func(context.Context, string) error, failed func(error)) error {
	lines := make(chan stdinLine)
	stop := make(chan struct{})
	defer close(stop)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		readErr <- scanLines(r, func(l stdinLine) bool {
			select {
			case lines <- l:
				return true
			case <-stop:
				return false
			}
		})
	}()
	total, nfailed, firstLine := 0, 0, 0
	var first error
	fail := func(n int, err error) {
		nfailed++
		if first == nil {
			first, firstLine = err, n
		}
		failed(fmt.Errorf("line %d of stdin not sent: %w", n, err))
	}
	for {
		var l stdinLine
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l, ok = <-lines:
		}
		if !ok {
			break
		}
		total++
		if l.err == nil {
			l.err = fn(ctx, l.text)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.err != nil {
			fail(l.n, l.err)
		}
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read stdin after %d lines: %w", total, err)
	}
	switch {
	case nfailed == 0:
		return nil
	case nfailed == 1 && total == 1:
		return fmt.Errorf("line %d of stdin not sent: %w", firstLine, first)
	case nfailed == 1:
		return fmt.Errorf("line %d of stdin not sent (the other %d were): %w", firstLine, total-1, first)
	}
	return fmt.Errorf("%d of %d lines of stdin not sent; the first, line %d: %w", nfailed, total, firstLine, first)
}

// scanLines passes each non-empty line of r to emit, without its line
// ending, until r ends or emit returns false. A line longer than a message
// may be is passed with an error instead, and read to its end without
// being kept, so a huge line costs no memory and the next line is read as
// usual. It returns r's error, if not io.EOF.
func scanLines(r io.Reader, emit func(stdinLine) bool) error {
	br := bufio.NewReaderSize(r, 64*1024)
	var buf []byte
	for n := 1; ; n++ {
		buf = buf[:0]
		size := 0 // the line's bytes, without its line ending
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			if err == nil || err == io.EOF {
				// The end of the line: drop "\n" or "\r\n". (A "\r" in
				// an earlier fragment is left: that line is too long
				// anyway.)
				frag = bytes.TrimSuffix(bytes.TrimSuffix(frag, []byte("\n")), []byte("\r"))
			}
			size += len(frag)
			if room := chat.MaxMessageBytes + 1 - len(buf); room > 0 {
				buf = append(buf, frag[:min(len(frag), room)]...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		text := string(buf)
		l := stdinLine{n: n, text: text}
		if size > chat.MaxMessageBytes {
			l = stdinLine{n: n, err: fmt.Errorf("%w: %d bytes, at most %d", chat.ErrMessageTooLong, size, chat.MaxMessageBytes)}
		}
		if (l.err != nil || strings.TrimSpace(text) != "") && !emit(l) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
