package simulator

import "time"

// Limits of the package. Each one bounds memory or work that a run can
// cause, so that a long load or a misbehaving switch cannot make a
// simulated bank grow without end; limits_test.go checks how they relate.
const (
	// SessionsMax is the most TCP sessions one Bank opens. A real bank
	// holds a handful; more only spreads the same load thinner.
	SessionsMax = 64

	// inflightPerSessionMax bounds the requests a session has sent and not
	// yet seen answered. STANs are six digits and are never reused while
	// their request is outstanding, so this must stay far below 999,999.
	// A send that finds the session full fails with ErrInflightFull (a
	// load counts it as not sent) instead of growing the table.
	inflightPerSessionMax = 65536

	// stanMax is the largest STAN that field 11 (n6) carries.
	stanMax = 999999

	// writeBufferMax is how many bytes of packed frames a session queues
	// for its writer before a sender waits. It absorbs bursts of a few
	// thousand messages, which the writer then sends in one system call.
	writeBufferMax = 1 << 20

	// writeTimeout bounds one write to the switch. A switch that stops
	// reading for this long has failed; the session is closed.
	writeTimeout = 10 * time.Second

	// readBufferSize is the size of a session's read buffer: many frames
	// per system call at high rates.
	readBufferSize = 64 << 10

	// responseTimeoutDefault is BankConfig.ResponseTimeout's default: the
	// longest a request waits when its context has no earlier deadline.
	responseTimeoutDefault = 30 * time.Second

	// signOffTimeout bounds the wait for each session's 0810 at Close.
	signOffTimeout = 5 * time.Second

	// sweepInterval is how often requests past their deadline are failed
	// with ErrNoAnswer: the resolution of every timeout in the package.
	sweepInterval = 5 * time.Millisecond

	// sentRecordsMax bounds the payments a Bank remembers for Resend and
	// Reverse (about 200 bytes each); the oldest is forgotten first.
	// RunLoad's payments are not remembered.
	sentRecordsMax = 65536

	// delayedAnswersMax bounds the payee's answers waiting on a timer; an
	// incoming payment that would exceed it is dropped instead (and
	// counted as dropped).
	delayedAnswersMax = 65536

	// advicesKeptMax bounds the 0420 advices that Stats lists; the count
	// of advices is exact beyond it.
	advicesKeptMax = 65536

	// payeesMax bounds LoadConfig.Payees.
	payeesMax = 1 << 16

	// loadRateMax bounds LoadConfig.Rate, in payments per second.
	loadRateMax = 1_000_000

	// loadPaymentsMax bounds the payments one RunLoad sends, whatever its
	// rate and duration (RunLoad keeps the RRN of each approved one).
	loadPaymentsMax = 100_000_000

	// loadTimeoutDefault is LoadConfig.Timeout's default.
	loadTimeoutDefault = 5 * time.Second

	// loadDrainGrace is how long RunLoad waits, beyond its Timeout, for the
	// outcome of payments already sent before it stops waiting; outcomes
	// are guaranteed within sweepInterval of the deadline, so this is only
	// a backstop.
	loadDrainGrace = time.Second

	// progressInterval is how often RunLoad calls LoadConfig.Progress.
	progressInterval = time.Second

	// latencyMicrosMax is the largest latency the histograms hold, in
	// microseconds (one minute); longer ones are recorded as this.
	latencyMicrosMax = 60_000_000

	// latencySignificantDigits is the histograms' precision.
	latencySignificantDigits = 3

	// loadWindowsMax bounds LoadResult.Windows, and
	// windowSignificantDigits is their precision (1%: at most 20 KiB a
	// window).
	loadWindowsMax          = 600
	windowSignificantDigits = 2

	// amountMax is the largest amount field 4 (n12) carries.
	amountMax = 999_999_999_999

	// participantMax is the largest participant field 32 (n..11) carries.
	participantMax = 99_999_999_999

	// rrnLen is the length of field 37 (an12); rrnDigits36 is how many
	// base-36 digits it holds, and rrnCounterDigits how many of them count
	// payments within one clock tick (see rrnSource).
	rrnLen           = 12
	rrnCounterDigits = 5
)
