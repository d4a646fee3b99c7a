package frontend

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// fuzzInputBytesMax caps one fuzz input: several whole frames and more.
const fuzzInputBytesMax = 64 << 10

// garbageConnections and garbageInputsPerConnection bound the random
// input of TestGarbage.
const (
	garbageConnections         = 24
	garbageInputsPerConnection = 12
)

// TestGarbage feeds a live server, over TCP, random bytes, random frames
// and mutated messages, on connections that signed on or not, then checks
// that the server still serves a good client. A panic anywhere would end
// the test process. The seed is fixed, so a failure replays.
func TestGarbage(t *testing.T) {
	srv, _ := startServer(t, func(c *Config) { c.IdleTimeout = idleTimeoutMin * 4 })
	rng := rand.New(rand.NewPCG(8583, 1))
	var wg sync.WaitGroup
	for i := range garbageConnections {
		inputs := make([][]byte, garbageInputsPerConnection)
		for k := range inputs {
			inputs[k] = garbageInput(t, rng)
		}
		signOn := i%2 == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			feed(srv.Addr(), signOn, inputs)
		}()
	}
	wg.Wait()
	good := dial(t, srv, bankA)
	good.signOn(iso8583.ResponseApproved)
	pay := good.payment()
	good.send(pay)
	good.expect(iso8583.MTIFinancialResponse, pay.STAN, iso8583.ResponseApproved, true)
}

// feedPause separates the inputs of one connection; echoWaitMax bounds
// the wait for the echo that ends them.
const (
	feedPause   = 3 * time.Millisecond
	echoWaitMax = 100 * time.Millisecond
)

// feed writes the inputs on connections to addr (each signed on as bank A
// first when signOn), opening a new connection whenever the server closes
// one, reading and discarding whatever comes back. Errors are expected:
// the server closes connections that send garbage.
func feed(addr string, signOn bool, inputs [][]byte) {
	for len(inputs) > 0 {
		inputs = inputs[feedOne(addr, signOn, inputs):]
	}
}

// feedOne writes inputs on one connection until the server closes it and
// returns how many it wrote, at least one. It ends with an echo and waits
// for its answer, so that the server has read everything before the
// connection closes.
func feedOne(addr string, signOn bool, inputs [][]byte) int {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return len(inputs)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	mc, _ := iso8583.NewMACer(keyOf(bankA))
	if signOn {
		// Sign on and wait for the answer, so that the inputs meet a
		// signed-on session.
		m := signOnMessage(bankA, 1)
		frame, _ := iso8583.PackFrame(nil, &m, mc)
		_, _ = conn.Write(frame)
		_, _ = io.ReadFull(conn, make([]byte, 2+64))
	}
	const lastSTAN = 999999
	done := make(chan struct{}) // closed on the echo's answer or the connection's end
	go func() {
		defer close(done)
		frames := iso8583.NewFrameReader(conn)
		for {
			frame, err := frames.Next()
			if err != nil {
				return
			}
			if mti, stan, _ := iso8583.PeekMTISTAN(frame); mti == iso8583.MTINetworkResponse && stan == lastSTAN {
				return
			}
		}
	}()
	for i, in := range inputs {
		if i > 0 {
			// A pause lets the server run the input before the next one,
			// which may close the session and drop what is still queued.
			time.Sleep(feedPause)
		}
		if _, err := conn.Write(in); err != nil {
			<-done
			return i + 1
		}
		select {
		case <-done:
			return i + 1
		default:
		}
	}
	echo := signOnMessage(bankA, lastSTAN)
	echo.NetworkCode = iso8583.NetworkEcho
	frame, _ := iso8583.PackFrame(nil, &echo, mc)
	_, _ = conn.Write(frame)
	// The echo goes unanswered when an input left a partial frame that
	// swallows it; wait a little, then hang up.
	select {
	case <-done:
	case <-time.After(echoWaitMax):
	}
	return len(inputs)
}

// signOnMessage returns the sign-on of participant, without its MAC.
func signOnMessage(participant uint64, stan uint32) iso8583.Message {
	var m iso8583.Message
	m.MTI = iso8583.MTINetworkRequest
	m.STAN = stan
	m.NetworkCode = iso8583.NetworkSignOn
	m.Set(iso8583.FieldSTAN, iso8583.FieldNetworkCode)
	m.SetTransmissionTime(time.Date(2026, 6, 12, 9, 30, 15, 0, time.UTC))
	_ = m.SetBytes(iso8583.FieldForwarder, []byte{'1', '0', '0', '0', byte('0' + participant%10)})
	return m
}

// garbageInput returns one random input: raw bytes, a frame of random
// bytes, a valid message with bytes flipped, or a valid message with a
// wrong MAC.
func garbageInput(t testing.TB, rng *rand.Rand) []byte {
	c := &client{t: t, participant: bankA}
	c.useKey(keyOf(bankA))
	c.stan = rng.Uint32N(999990)
	valid := func() []byte {
		var m *iso8583.Message
		switch rng.IntN(5) {
		case 0:
			m = c.payment()
		case 1:
			m = c.network(iso8583.NetworkCode(rng.IntN(4)))
		case 2: // another participant's payment
			m = c.payment()
			_ = m.SetBytes(iso8583.FieldAcquirer, []byte("10002"))
		case 3: // a reversal advice without its field 90
			m = c.payment()
			m.MTI = iso8583.MTIReversalAdvice
		default:
			m = c.payment()
			approve(m)
		}
		frame, _ := iso8583.PackFrame(nil, m, c.mac)
		return frame
	}
	// Inputs that close the session (raw bytes, most random bodies) are
	// rarer than those that do not, so that a connection lives long
	// enough to reach the checks after decoding.
	switch rng.IntN(20) {
	case 0, 1: // raw bytes, headers included
		b := make([]byte, 1+rng.IntN(300))
		fillRandom(rng, b)
		return b
	case 2, 3, 4: // a well-framed random body
		body := make([]byte, 1+rng.IntN(400))
		fillRandom(rng, body)
		frame, _ := iso8583.AppendFrame(nil, body)
		return frame
	case 5, 6, 7, 8, 9, 10: // a valid message with a few bytes flipped, header kept
		frame := valid()
		for range 1 + rng.IntN(4) {
			frame[2+rng.IntN(len(frame)-2)] ^= byte(1 + rng.IntN(255))
		}
		return frame
	case 11, 12, 13: // a valid message truncated, its header fixed up
		frame := valid()
		n := 1 + rng.IntN(len(frame)-2)
		binary.BigEndian.PutUint16(frame, uint16(n))
		return frame[:2+n]
	default: // a valid message
		return valid()
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// FuzzSession sends each input on a fresh connection of a live server,
// signed on first, and checks at the end that the server still serves a
// good client. Under go test only the seeds run.
func FuzzSession(f *testing.F) {
	srv, _ := startServer(f, nil)
	c := &client{t: f, participant: bankA}
	c.useKey(keyOf(bankA))
	pay, _ := iso8583.PackFrame(nil, c.payment(), c.mac)
	echo, _ := iso8583.PackFrame(nil, c.network(iso8583.NetworkEcho), c.mac)
	f.Add(pay)
	f.Add(append(append([]byte{}, echo...), pay...))
	f.Add([]byte{0x20, 0x01, 'x'})
	f.Add([]byte{0, 0})
	f.Add(append([]byte{0, 20}, "0200FFFFFFFFFFFFFFFF"...))
	f.Add(append([]byte{0, 36}, "02008000000000000000FFFFFFFFFFFFFFFF"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzInputBytesMax {
			return
		}
		feed(srv.Addr(), true, [][]byte{data})
	})
	f.Cleanup(func() {
		good := dial(f, srv, bankA)
		good.signOn(iso8583.ResponseApproved)
		m := good.payment()
		good.send(m)
		good.expect(iso8583.MTIFinancialResponse, m.STAN, iso8583.ResponseApproved, true)
	})
}
