package node

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// Ports of a machine's member, from its base port: clients on the base
// (2379 by default, etcd's client port), peers on the next (2380, etcd's
// peer port), the invitation endpoint on the one after.
const (
	DefaultBasePort = 2379
	peerPortOffset  = 1
	joinPortOffset  = 2
)

// MachinePorts are the ports of one machine's member.
type MachinePorts struct {
	Client, Peer, Join int
}

// PortsFrom returns the ports of a member whose client port is base.
func PortsFrom(base int) MachinePorts {
	return MachinePorts{Client: base, Peer: base + peerPortOffset, Join: base + joinPortOffset}
}

// virtualInterface reports interfaces that belong to containers or
// virtual machines of this machine, whose addresses other machines cannot
// reach.
func virtualInterface(name string) bool {
	for _, p := range []string{"docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "cni", "flannel", "podman", "lxc", "lxd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// MachineAddrs returns the addresses other machines may reach this one
// by: the IPv4 addresses of its interfaces that are up, not loopback, not
// link-local and not a container bridge's; if it has none, its global
// IPv6 addresses. It never returns a loopback address: 127.0.0.1 means
// another machine to everyone else.
func MachineAddrs() ([]net.IP, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("node: list network interfaces: %w", err)
	}
	var v4, v6 []net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || virtualInterface(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP
			switch {
			case ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsMulticast(), ip.IsUnspecified():
			case ip.To4() != nil:
				v4 = append(v4, ip.To4())
			case ip.IsGlobalUnicast():
				v6 = append(v6, ip)
			}
		}
	}
	out := v4
	if len(out) == 0 {
		out = v6
	}
	if len(out) == 0 {
		return nil, errors.New("node: this machine has no network address other machines could reach (pass --advertise)")
	}
	slices.SortFunc(out, func(a, b net.IP) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(out, net.IP.Equal), nil
}

// HostPort joins an IP and a port, bracketing IPv6.
func HostPort(ip net.IP, port int) string {
	return net.JoinHostPort(ip.String(), fmt.Sprint(port))
}
