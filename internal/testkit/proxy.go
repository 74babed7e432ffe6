package testkit

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to an etcd endpoint, with faults a test
// turns on and off: SetDelay holds every reply back (a far-away or
// overloaded cluster); DropReplies delivers requests but throws replies
// away (a write that commits and whose acknowledgement is lost); SetDown
// cuts every connection and refuses new ones (a cluster that is gone).
// It stops at the end of the test.
type Proxy struct {
	ln    net.Listener
	drop  atomic.Bool
	delay atomic.Int64 // nanoseconds
	down  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

// NewProxy starts a proxy to endpoint ("http://host:port" or "host:port").
func NewProxy(t testing.TB, endpoint string) *Proxy {
	t.Helper()
	target := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		target = u.Host
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c, target)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *Proxy) serve(c net.Conn, target string) {
	if p.down.Load() {
		c.Close()
		return
	}
	s, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down.Load() {
		// Cut while it dialled.
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.open = append(p.open, c, s)
	p.mu.Unlock()
	p.wg.Go(func() { io.Copy(s, c); s.Close() })
	// Replies pass through a queue, each delivered delay after it was
	// read, so a delay adds latency without cutting throughput.
	type chunk struct {
		at   time.Time
		data []byte
	}
	q := make(chan chunk, 1024)
	p.wg.Go(func() {
		defer close(q)
		buf := make([]byte, 32*1024)
		for {
			n, err := s.Read(buf)
			if n > 0 && !p.drop.Load() {
				q <- chunk{time.Now().Add(time.Duration(p.delay.Load())), bytes.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	})
	p.wg.Go(func() {
		defer c.Close()
		for ch := range q {
			time.Sleep(time.Until(ch.at)) // the latency being simulated
			if _, err := c.Write(ch.data); err != nil {
				s.Close()
				for range q {
				}
				return
			}
		}
	})
}

// Endpoint is the proxy's address, as an etcd client endpoint.
func (p *Proxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

// SetDelay holds back every reply read from now on by d (0: none).
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// DropReplies throws away (true) or delivers again (false) the replies.
func (p *Proxy) DropReplies(drop bool) { p.drop.Store(drop) }

// SetDown cuts the cluster off (true) or lets it be reached again.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down.Store(down)
	p.mu.Unlock()
	if down {
		p.closeAll()
	}
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}
