package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// portsTaken remembers the ports this process handed out, so that two
// clusters of one test process never share one.
var portsTaken sync.Map

// FreePorts returns n loopback ports that were free a moment ago, for
// tests that start nodes in process and must restart them on the same
// ports. See freePorts.
func FreePorts(n int) ([]int, error) { return freePorts(n) }

// freePorts returns n loopback ports that were free a moment ago. They are
// drawn below the kernel's ephemeral range: a node keeps its ports across
// a restart, and a port of the ephemeral range could meanwhile become the
// local end of some outgoing connection.
func freePorts(n int) ([]int, error) {
	low, high := 20000, ephemeralLow()-1
	if high-low < 1000 {
		low, high = 10000, 30000
	}
	var ports []int
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt >= portAttemptsMax {
			return nil, fmt.Errorf("clustertest: no %d free loopback ports found in %d attempts", n, portAttemptsMax)
		}
		p := low + rand.IntN(high-low)
		if _, taken := portsTaken.LoadOrStore(p, true); taken {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralLow reads the lower bound of the kernel's ephemeral port range,
// 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	v, err := strconv.Atoi(fields[0])
	if err != nil || v < 1024 {
		return 32768
	}
	return v
}
