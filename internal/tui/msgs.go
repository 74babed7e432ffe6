package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/watchdog"
)

// Every call into chat runs in one of the commands below, never in Init,
// Update or View; its outcome, error included, comes back as a message.

// call is the command of one request to the cluster: fn runs with ctx
// bounded by d, and its message comes back to Update.
func call(ctx context.Context, d time.Duration, fn func(context.Context) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return fn(ctx)
	}
}

const (
	// defaultTimeout bounds one request to the cluster unless
	// Options.Timeout says otherwise.
	defaultTimeout = 15 * time.Second
	// loginTimeout bounds a login, which may start the local etcd member.
	loginTimeout = time.Minute
	// sendTimeout bounds one message's delivery: Send retries while the
	// cluster is away, so a message typed offline goes out when it is back.
	sendTimeout = 24 * time.Hour
	// probeTimeout and probeEvery pace the cluster probe of the status bar.
	probeTimeout = 3 * time.Second
	probeEvery   = 5 * time.Second
	// feedRetry is the pause before a closed room subscription restarts.
	feedRetry = 2 * time.Second
	// pageSize is how many messages a conversation loads at a time.
	pageSize = 200
)

// Login.

type keystoreMsg struct {
	user              string
	exists, encrypted bool
}

type loginMsg struct {
	user    string
	attempt int // the loginModel's attempt it answers
	svc     *chat.Service
	err     error
}

func keystoreCmd(s Session, user string) tea.Cmd {
	return func() tea.Msg {
		exists, enc := s.KeystoreExists(user)
		return keystoreMsg{user: user, exists: exists, encrypted: enc}
	}
}

// loginCmd logs in, bounded by timeout; ctx is cancelled when the user
// goes back meanwhile.
func loginCmd(ctx context.Context, s Session, user string, pass []byte, attempt int, timeout time.Duration) tea.Cmd {
	return call(ctx, timeout, func(ctx context.Context) tea.Msg {
		svc, err := s.Login(ctx, user, pass)
		clear(pass)
		return loginMsg{user: user, attempt: attempt, svc: svc, err: err}
	})
}

// Presence.

type presenceOnMsg struct {
	stop func()
	err  error
}

// presenceMsg is a snapshot of who is online (chat.FollowPresence).
type presenceMsg struct {
	ch     <-chan chat.Presence
	p      chat.Presence
	closed bool
}

func goOnlineCmd(ctx context.Context, svc *chat.Service) tea.Cmd {
	return func() tea.Msg {
		stop, err := svc.GoOnline(ctx)
		return presenceOnMsg{stop: stop, err: err}
	}
}

// followPresenceCmd follows who is online and waits for the first
// snapshot; chat handles lost connections and compaction.
func followPresenceCmd(ctx context.Context, svc *chat.Service) tea.Cmd {
	ch := svc.FollowPresence(ctx)
	return nextPresenceCmd(ch)
}

func nextPresenceCmd(ch <-chan chat.Presence) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		return presenceMsg{ch: ch, p: p, closed: !ok}
	}
}

// Cluster.

type clusterMsg struct{ status []chat.EndpointStatus }

type clusterTickMsg struct{}

func clusterCmd(ctx context.Context, svc *chat.Service) tea.Cmd {
	return call(ctx, probeTimeout, func(ctx context.Context) tea.Msg {
		return clusterMsg{status: svc.ClusterStatus(ctx)}
	})
}

func clusterTick() tea.Cmd {
	return tea.Tick(probeEvery, func(time.Time) tea.Msg { return clusterTickMsg{} })
}

// Rooms.

// A listing of the rooms sends, in order on its own channel, any number of
// roomsProgressMsg while it reads, one roomsMsg with the list, then one
// summariesMsg; then the channel closes. Each carries the channel, from
// which nextListingCmd reads the next.

type roomsProgressMsg struct {
	read int // room records read so far
	ch   <-chan tea.Msg
}

type roomsMsg struct {
	rooms    []chat.RoomInfo
	rejected []chat.Rejected
	err      error
	ch       <-chan tea.Msg
}

// summariesMsg brings, for the rooms of mine the listing had no summary of,
// the newest message and how many from others came since my read mark.
// failed counts the rooms whose summary could not be read, err says why
// for the first of them.
type summariesMsg struct {
	summaries map[string]chat.RoomSummary
	failed    int
	err       error
	ch        <-chan tea.Msg
}

// listingBuffer holds the progress of a listing that the interface has not
// taken yet; progress beyond it is dropped, the list and summaries never.
const listingBuffer = 16

// roomsCmd lists the rooms, and then reads the newest message of each room
// of mine it has no summary for yet, with the messages from others since
// my read mark of an earlier session; the room subscriptions keep them
// current after that. d bounds each round trip, not the whole: a list of
// thousands of rooms, or a first listing that verifies thousands of room
// chains, takes the time it takes, and says how far it got meanwhile.
func roomsCmd(ctx context.Context, d time.Duration, svc *chat.Service, known map[string]bool, ch chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		defer close(ch)
		ctx, wd := watchdog.New(ctx, d, fmt.Errorf("no answer from the cluster for %s", d))
		defer wd.Stop()
		rooms, rejected, err := svc.RoomsProgress(ctx, func(read int) {
			wd.Touch()
			select {
			case ch <- roomsProgressMsg{read: read, ch: ch}:
			default: // the interface is busy: it sees the next one
			}
		})
		err = wd.Err(err)
		if !deliver(ctx, ch, roomsMsg{rooms: rooms, rejected: rejected, err: err, ch: ch}) || err != nil {
			return nil
		}
		var want []names.Room
		for _, r := range rooms {
			if r.Member && !known[r.Name] {
				want = append(want, names.Room(r.Name)) // a verified room's name
			}
		}
		sums, failed, err := svc.Summaries(ctx, want, svc.ReadMark, func(int) { wd.Touch() })
		msg := summariesMsg{summaries: sums, ch: ch}
		if err != nil {
			msg.failed, msg.err = len(want)-len(sums), wd.Err(err)
		}
		for _, r := range want {
			if e := failed[string(r)]; e != nil {
				if msg.failed++; msg.err == nil {
					msg.err = fmt.Errorf("%s: %w", r, e)
				}
			}
		}
		deliver(ctx, ch, msg)
		return nil
	}
}

// deliver sends msg on ch unless ctx ends first.
func deliver(ctx context.Context, ch chan<- tea.Msg, msg tea.Msg) bool {
	select {
	case ch <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}

// nextListingCmd waits for the next message of a listing; none once it is
// done.
func nextListingCmd(ch <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		msg, ok := <-ch
		if !ok {
			return nil
		}
		return msg
	}
}

// roomsSignalMsg is a signal of the rooms watch: list the rooms again.
// closed reports a watch that could not start or has ended.
type roomsSignalMsg struct {
	ch     <-chan struct{}
	closed bool
}

type roomsWatchRetryMsg struct{}

// watchRoomsCmd starts the watch on the set of rooms and waits for its
// first signal, which it sends once it is in place.
func watchRoomsCmd(ctx context.Context, svc *chat.Service) tea.Cmd {
	return func() tea.Msg {
		ch, err := svc.WatchRooms(ctx)
		if err != nil {
			return roomsSignalMsg{closed: true}
		}
		return nextRoomsSignal(ch)
	}
}

func nextRoomsSignalCmd(ch <-chan struct{}) tea.Cmd {
	return func() tea.Msg { return nextRoomsSignal(ch) }
}

func nextRoomsSignal(ch <-chan struct{}) tea.Msg {
	_, ok := <-ch
	return roomsSignalMsg{ch: ch, closed: !ok}
}

func roomsWatchRetry() tea.Cmd {
	return tea.Tick(feedRetry, func(time.Time) tea.Msg { return roomsWatchRetryMsg{} })
}

// Moving between screens.

// openMsg asks to show a room: its conversation if I am a member, the
// waiting screen if my request to join is pending. err reports a failed
// create, direct chat or join.
type openMsg struct {
	room chat.RoomInfo
	err  error
}

// showRoomsMsg asks for the room list.
type showRoomsMsg struct{}

// quitMsg asks to quit (after a warning if messages are unsent).
type quitMsg struct{}

func emit(m tea.Msg) tea.Cmd { return func() tea.Msg { return m } }

func createCmd(ctx context.Context, d time.Duration, svc *chat.Service, name names.Room) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		r, err := svc.CreateRoom(ctx, name)
		return openMsg{room: r, err: err}
	})
}

func directCmd(ctx context.Context, d time.Duration, svc *chat.Service, user names.User) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		r, err := svc.DirectRoom(ctx, user)
		return openMsg{room: r, err: err}
	})
}

// joinCmd asks to join room (a no-op if the request is pending already)
// and returns the room as it stands then.
func joinCmd(ctx context.Context, d time.Duration, svc *chat.Service, room names.Room) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		r, err := svc.Room(ctx, room)
		if err != nil || r.Member || r.Kind == chat.Direct {
			return openMsg{room: r, err: err}
		}
		if err := svc.RequestJoin(ctx, room); err != nil {
			return openMsg{room: r, err: err}
		}
		r, err = svc.Room(ctx, room)
		return openMsg{room: r, err: err}
	})
}

// Waiting for approval.

type approvalMsg struct {
	room     string
	approval chat.Approval
	err      error
}

type cancelJoinMsg struct {
	room string
	err  error
}

type roomMsg struct {
	room chat.RoomInfo
	err  error
}

// waitApprovalCmd blocks until a member approves or denies my request, or
// ctx ends (the user cancelled).
func waitApprovalCmd(ctx context.Context, svc *chat.Service, room string) tea.Cmd {
	return func() tea.Msg {
		a, err := svc.WaitApproval(ctx, names.Room(room))
		return approvalMsg{room: room, approval: a, err: err}
	}
}

func cancelJoinCmd(ctx context.Context, d time.Duration, svc *chat.Service, room string) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		return cancelJoinMsg{room: room, err: svc.CancelJoin(ctx, names.Room(room))}
	})
}

func roomCmd(ctx context.Context, d time.Duration, svc *chat.Service, room string) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		r, err := svc.Room(ctx, names.Room(room))
		return roomMsg{room: r, err: err}
	})
}

// Conversation.

// historyMsg brings what a conversation opens with; scr is empty if err
// is set.
type historyMsg struct {
	room string
	scr  chat.RoomScreen
	err  error
}

type olderMsg struct {
	room string
	page *chat.Page
	err  error
}

type membersMsg struct {
	room     string
	members  []chat.Member
	requests []chat.JoinRequest
	show     bool // print them in the conversation (/members)
	err      error
}

// resultMsg is the outcome of a membership command typed in a
// conversation; success shows as the room's own notice.
type resultMsg struct {
	room string
	err  error
}

// historyCmd reads what a conversation opens with: the room, the newest
// page of messages, the members and the pending join requests.
func historyCmd(ctx context.Context, d time.Duration, svc *chat.Service, room string) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		scr, err := svc.OpenRoom(ctx, names.Room(room), pageSize)
		return historyMsg{room: room, scr: scr, err: err}
	})
}

func olderCmd(ctx context.Context, d time.Duration, svc *chat.Service, room, cursor string, rev int64) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		page, err := svc.Older(ctx, names.Room(room), cursor, rev, pageSize)
		return olderMsg{room: room, page: page, err: err}
	})
}

// membersCmd reads a room's members and pending join requests.
func membersCmd(ctx context.Context, d time.Duration, svc *chat.Service, room string, show bool) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		ms, err := svc.Members(ctx, names.Room(room))
		if err != nil {
			return membersMsg{room: room, show: show, err: err}
		}
		reqs, err := svc.Requests(ctx, names.Room(room))
		return membersMsg{room: room, members: ms, requests: reqs, show: show, err: err}
	})
}

// actionCmd runs one membership command of a conversation.
func actionCmd(ctx context.Context, d time.Duration, room string, fn func(context.Context) error) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		return resultMsg{room: room, err: fn(ctx)}
	})
}

type leftMsg struct {
	room string
	err  error
}

func leaveCmd(ctx context.Context, d time.Duration, svc *chat.Service, room string, del bool) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		return leftMsg{room: room, err: svc.Leave(ctx, names.Room(room), chat.LeaveOptions{Delete: del})}
	})
}

// sendWait is how long a message waits for the cluster before it goes to
// the outbox on disk, from where RunOutbox delivers it when the cluster is
// back, also after a restart.
const sendWait = 3 * time.Second

type sentMsg struct {
	room  string
	local int
	msg   chat.Message // Pending: queued in the outbox, not sent yet
	err   error
}

// sendCmd sends one message, or queues it in the outbox if the cluster
// does not answer within sendWait. Either way it is stored exactly once:
// its id is chosen when it is typed and every write of it is create-only. Without an
// outbox, SendOrQueue is Send, which retries until ctx ends.
//
// A reply is not queued: the cluster checks what it answers first, so it
// waits for the cluster (up to d, the --timeout) and fails if it does not
// answer.
func sendCmd(ctx context.Context, d time.Duration, svc *chat.Service, o *outgoing) tea.Cmd {
	room, local, id, text, replyTo := o.room, o.local, o.id, o.text, o.replyTo
	if replyTo != "" {
		return call(ctx, d, func(ctx context.Context) tea.Msg {
			m, err := svc.ReplyID(ctx, names.Room(room), id, replyTo, text)
			return sentMsg{room: room, local: local, msg: m, err: err}
		})
	}
	return call(ctx, sendTimeout, func(ctx context.Context) tea.Msg {
		m, err := svc.SendOrQueueID(ctx, names.Room(room), id, text, sendWait)
		return sentMsg{room: room, local: local, msg: m, err: err}
	})
}

// deliveredMsg reports a message of the outbox delivered by RunOutbox.
type deliveredMsg struct {
	ch     <-chan chat.Message
	msg    chat.Message
	closed bool
}

// queuedMsg lists the messages waiting in the outbox at login.
type queuedMsg struct {
	msgs []chat.Message
	err  error
}

// runOutboxCmd delivers queued messages until ctx ends, reporting each on
// ch; done is closed once it has stopped.
func runOutboxCmd(ctx context.Context, svc *chat.Service, ch chan<- chat.Message, done chan<- struct{}) tea.Cmd {
	return func() tea.Msg {
		defer close(done)
		defer close(ch)
		svc.RunOutbox(ctx, func(m chat.Message) {
			select {
			case ch <- m:
			case <-ctx.Done():
			}
		})
		return nil
	}
}

func nextDeliveredCmd(ch <-chan chat.Message) tea.Cmd {
	return func() tea.Msg {
		m, ok := <-ch
		return deliveredMsg{ch: ch, msg: m, closed: !ok}
	}
}

func queuedCmd(svc *chat.Service) tea.Cmd {
	return func() tea.Msg {
		ms, err := svc.Pending()
		return queuedMsg{msgs: ms, err: err}
	}
}

// Room subscriptions.

type feedMsg struct {
	room string
	gen  int
	ch   <-chan chat.Event
	err  error
}

type eventMsg struct {
	room string
	ch   <-chan chat.Event
	ev   chat.Event
}

type feedClosedMsg struct {
	room string
	ch   <-chan chat.Event
}

type feedRetryMsg struct{ room string }

// subscribeCmd subscribes to a room's events from fromRev (0: from the
// room's state as last read) until ctx ends.
func subscribeCmd(ctx context.Context, svc *chat.Service, room string, fromRev int64, gen int) tea.Cmd {
	return func() tea.Msg {
		ch, err := svc.Subscribe(ctx, names.Room(room), fromRev)
		return feedMsg{room: room, gen: gen, ch: ch, err: err}
	}
}

// nextEventCmd waits for a subscription's next event; it is re-armed after
// each one.
func nextEventCmd(room string, ch <-chan chat.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return feedClosedMsg{room: room, ch: ch}
		}
		return eventMsg{room: room, ch: ch, ev: ev}
	}
}

func feedRetryCmd(room string) tea.Cmd {
	return tea.Tick(feedRetry, func(time.Time) tea.Msg { return feedRetryMsg{room: room} })
}
