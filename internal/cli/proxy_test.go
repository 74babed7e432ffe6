package cli_test

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy forwards TCP connections to an etcd endpoint. delay holds
// every reply back (a far-away or overloaded cluster); while down is set it
// cuts every connection and refuses new ones (a cluster that is gone).
type faultProxy struct {
	ln    net.Listener
	delay atomic.Int64 // nanoseconds
	down  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newFaultProxy(t *testing.T, endpoint string) *faultProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", u.Host)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			// Replies pass through a queue, each delivered delay after it
			// was read, so a delay adds latency without cutting throughput.
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
					if n > 0 {
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
					time.Sleep(time.Until(ch.at)) // the delay being simulated
					if _, err := c.Write(ch.data); err != nil {
						s.Close()
						for range q {
						}
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) endpoint() string { return "http://" + p.ln.Addr().String() }

// setDown cuts the cluster off (true) or lets it be reached again.
func (p *faultProxy) setDown(down bool) {
	p.down.Store(down)
	if down {
		p.closeAll()
	}
}

func (p *faultProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}
