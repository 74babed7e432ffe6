package node

import (
	"fmt"
	"net"
)

// FreeLoopbackURLs returns n distinct URLs of the form
// http://127.0.0.1:PORT whose ports were free when it was called. Another
// program may take a port before it is used, so a caller that gets an
// "address already in use" error from [Start] (errors.Is(err,
// syscall.EADDRINUSE)) asks for new URLs and tries again.
func FreeLoopbackURLs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	urls := make([]string, 0, n)
	for range n {
		// Holding every listener until all are chosen keeps the ports
		// distinct.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("node: find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		urls = append(urls, "http://"+l.Addr().String())
	}
	return urls, nil
}
