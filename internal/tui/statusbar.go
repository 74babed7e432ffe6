package tui

import (
	"fmt"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// clusterState is the cluster as this client sees it.
type clusterState int

const (
	clusterUnknown      clusterState = iota // not probed yet
	clusterConnected                        // an endpoint answers, the room watches run
	clusterReconnecting                     // a room watch lost the connection and is resuming
	clusterOffline                          // no endpoint answers
	clusterNoQuorum                         // endpoints answer, but none knows a leader
)

// statusBar is the last line of every screen after the login: who I am,
// the room, who of its members is online, messages on their way, and the
// cluster's state.
type statusBar struct {
	sh    *shared
	width int

	probed    bool
	endpoints []chat.EndpointStatus
	watchDown bool   // some room subscription reports the connection lost
	alert     string // a passing notice (a join request elsewhere, a warning)
}

// barInfo is what the root model knows for the bar at a given moment.
type barInfo struct {
	user    string
	room    string
	members int
	online  int
	sending int
	queued  int
	unread  int // in rooms other than the one shown
}

func newStatusBar(sh *shared) *statusBar { return &statusBar{sh: sh} }

func (b *statusBar) SetSize(w, _ int) { b.width = w }

func (b *statusBar) setCluster(st []chat.EndpointStatus) {
	b.probed, b.endpoints = true, st
}

func (b *statusBar) reachable() (n int, via string) {
	for _, e := range b.endpoints {
		if !e.OK {
			continue
		}
		n++
		if via == "" || e.Leader {
			via = e.Endpoint
		}
	}
	return n, strings.TrimPrefix(strings.TrimPrefix(via, "http://"), "https://")
}

func (b *statusBar) state() clusterState {
	n, _ := b.reachable()
	switch {
	case !b.probed:
		return clusterUnknown
	case n == 0:
		return clusterOffline
	case b.noLeader(n):
		return clusterNoQuorum
	case b.watchDown:
		return clusterReconnecting
	}
	return clusterConnected
}

// noLeader reports that every one of the n endpoints that answer knows no
// leader: the cluster has no quorum (history reads from a member's copy,
// sends queue).
func (b *statusBar) noLeader(n int) bool {
	none := 0
	for _, e := range b.endpoints {
		if e.OK && e.NoLeader {
			none++
		}
	}
	return n > 0 && none == n
}

// clusterText describes the cluster state in a few words, with its style.
func (b *statusBar) clusterText() (string, lipgloss.Style) {
	st := b.sh.st
	n, via := b.reachable()
	total := len(b.endpoints)
	switch b.state() {
	case clusterUnknown:
		eps := "the local member"
		if len(b.sh.opts.Endpoints) > 0 {
			eps = strings.Join(b.sh.opts.Endpoints, ",")
		}
		return "connecting to " + eps + "…", st.barWarn
	case clusterOffline:
		return fmt.Sprintf("● offline: 0/%d endpoints reachable, retrying", total), st.barBad
	case clusterReconnecting:
		return fmt.Sprintf("● reconnecting… (%d/%d endpoints reachable)", n, total), st.barWarn
	case clusterNoQuorum:
		return fmt.Sprintf("● no quorum: read-only, sends queue (%d/%d endpoints reachable)", n, total), st.barBad
	}
	return fmt.Sprintf("● connected to %s (%d/%d endpoints)", via, n, total), st.barOK
}

func (b *statusBar) View(info barInfo) string {
	st := b.sh.st
	var parts []string
	if info.user != "" {
		parts = append(parts, info.user)
	}
	if info.room != "" {
		parts = append(parts, info.room)
	}
	if info.members > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d online", info.online, info.members))
	}
	if info.sending > 0 {
		parts = append(parts, fmt.Sprintf("%d sending", info.sending))
	}
	if info.queued > 0 {
		parts = append(parts, fmt.Sprintf("%d queued", info.queued))
	}
	if info.unread > 0 {
		parts = append(parts, fmt.Sprintf("%d unread elsewhere", info.unread))
	}
	if b.alert != "" {
		parts = append(parts, sanitize(b.alert))
	}
	left := " " + strings.Join(parts, " │ ") + " "
	right, rs := b.clusterText()
	right = " " + right + " "
	// On a narrow terminal the cluster gives way to the user's name.
	rw := lipgloss.Width(right)
	if most := b.width - min(lipgloss.Width(left), b.width/2); rw > most {
		right = ellipsis(right, max(most, 0))
		rw = lipgloss.Width(right)
	}
	room := max(b.width-rw, 0)
	left = padRight(ellipsis(left, room), room)
	return st.bar.Render(left) + rs.Render(right)
}
