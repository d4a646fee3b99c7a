package admin

import "time"

// Limits of the admin API. They bound what one request can make the server
// read, hold or wait for, whatever a client sends.
const (
	// commandsBodyBytesMax bounds the body of POST /admin/ledger/commands.
	// 4,096 transfer commands with every field at its longest take about
	// 2.5 MiB of JSON; 4 MiB leaves room for indentation.
	commandsBodyBytesMax = 4 << 20

	// smallBodyBytesMax bounds every other request body (a voter to add).
	smallBodyBytesMax = 64 << 10

	// commandsPerRequestMax is the most commands one request may carry:
	// what the replica's proposer packs into one log entry by default, so a
	// request is never split across entries.
	commandsPerRequestMax = 4096

	// transfersPageMax bounds one page of an account's transfers, the
	// store's own page bound; transfersPageDefault is the page size when
	// the client gives none.
	transfersPageMax     = 1000
	transfersPageDefault = 100

	// readyLagEntriesMax is how far behind its commit index a follower may
	// have applied and still answer /readyz with 200.
	readyLagEntriesMax = 1000

	// requestTimeout bounds the wait of one request on the cluster (a
	// commit, a read barrier, a membership change). The replica's own
	// deadline on Raft futures (5 s by default) comes first; this one is
	// the backstop.
	requestTimeout = 10 * time.Second

	// stateReadAttemptsMax bounds the retries of GET /admin/ledger/state
	// while the node applies between reading the applied index and the
	// digest.
	stateReadAttemptsMax = 8

	// voterDialTimeout bounds the check that a new voter's Raft address
	// answers before it is added.
	voterDialTimeout = 2 * time.Second

	// adminKeyLenMin is the shortest admin key New accepts.
	adminKeyLenMin = 16

	// quotedInputLenMax bounds how much of a client's text a problem's
	// detail repeats.
	quotedInputLenMax = 64

	// errorTextLenMax bounds the text of another package's error that a
	// detail repeats when the error may hold the client's text: its own
	// words plus a quoted value of quotedInputLenMax bytes, each escaped
	// as \xNN at worst.
	errorTextLenMax = 96 + 4*quotedInputLenMax

	// raftAddrLenMax bounds a new voter's raft_addr: a DNS name of 253
	// bytes, or an IPv6 address in brackets, then ":" and a port.
	raftAddrLenMax = 253 + len("[]:65535")
)
