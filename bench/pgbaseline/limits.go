package pgbaseline

// Limits of the baseline driver. They bound the memory and the number of
// server connections one run takes.
const (
	// clientsMax bounds Options.Clients. Each client is one PostgreSQL
	// backend process; maxConnections leaves room above it for set-up's
	// schema connection and for a psql session while a run is going.
	clientsMax = 256
	// maxConnections is the server's max_connections.
	maxConnections = clientsMax + 16

	// pipelineTransfersMax bounds Options.Pipeline: how many transfers one
	// client sends in one round trip, each still its own transaction.
	pipelineTransfersMax = 256

	// setupTransactionCommandsMax is how many set-up commands share one
	// transaction. Set-up funds every account from the one hub account;
	// one commit per transfer would serialise 100,000 synced commits on
	// that row, and one transaction per 4,096-command batch would make
	// each update of the hub row walk a long chain of its own versions.
	setupTransactionCommandsMax = 256

	// retriesMax bounds how often one transfer is retried after a
	// deadlock or serialization failure. Lock order makes both impossible
	// in the transfer function; the bound turns a broken assumption into
	// an error rather than a loop.
	retriesMax = 8

	// serverStartAttemptsMax bounds the retries of a server start that
	// lost its port to another process between choosing and binding it.
	serverStartAttemptsMax = 3
)
