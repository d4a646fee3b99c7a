package pgbaseline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/ledger"
)

// Apply applies the commands of one batch and returns their codes in
// command order, appended to codes. Every command is its own transaction,
// committed and synced before its code is returned; there is no
// transaction around the batch. The commands are spread over the clients
// in runs of Options.Pipeline and run concurrently, so commands of one
// batch must not depend on each other (see DB). Apply returns when every
// command has committed or failed.
//
// A command the server fails with an error (not a rejection, which is a
// code) fails Apply; the commands applied before stay applied, as they
// would after a crash, and their retries answer exists.
func (db *DB) Apply(ctx context.Context, b *ledger.Batch, codes []ledger.Code) ([]ledger.Code, error) {
	if err := checkBatch(b); err != nil {
		return codes, err
	}
	n := len(b.Commands)
	start := len(codes)
	codes = append(codes, make([]ledger.Code, n)...)
	out := codes[start:]
	runs := (n + db.opts.Pipeline - 1) / db.opts.Pipeline
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, min(db.opts.Clients, runs))
	for w := range errs {
		wg.Go(func() {
			errs[w] = db.work(ctx, b.Commands, out, runs, &next)
		})
	}
	wg.Wait()
	return codes, errors.Join(errs...)
}

// work is one client's loop: it takes the next run of commands until none
// is left, on one pooled connection.
func (db *DB) work(ctx context.Context, cmds []ledger.Command, codes []ledger.Code, runs int, next *atomic.Int64) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgbaseline: %w", err)
	}
	defer conn.Release()
	var c client
	for {
		run := int(next.Add(1) - 1)
		if run >= runs {
			return nil
		}
		start := run * db.opts.Pipeline
		end := min(start+db.opts.Pipeline, len(cmds))
		if err := c.runEach(ctx, conn.Conn(), cmds[start:end], codes[start:end]); err != nil {
			next.Store(int64(runs)) // the other clients take no new run
			return err
		}
	}
}

// client holds one connection's encoding buffers.
type client struct {
	buf     []byte   // the parameter bytes of one command
	offsets []int    // where each parameter ends in buf
	values  [][]byte // the parameters, slices of buf
	retry   []int    // commands of a run to send again
}

// binaryFormat, given as the only format code, makes every parameter and
// every result column binary.
var binaryFormat = []int16{1}

// runEach sends every command with its own Sync, in one round trip, and
// reads their codes. A Sync ends the implicit transaction the extended
// protocol opens, so each command commits on its own: unlike a pgx.Batch,
// which ends with one Sync and so makes all its queries one transaction.
// A command failed by a deadlock or a serialization failure did nothing
// and is sent again.
func (c *client) runEach(ctx context.Context, conn *pgx.Conn, cmds []ledger.Command, codes []ledger.Code) error {
	pending := make([]int, len(cmds))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > retriesMax {
			return fmt.Errorf("pgbaseline: command still failing after %d retries", retriesMax)
		}
		p := conn.PgConn().StartPipeline(ctx)
		for _, i := range pending {
			c.send(p, &cmds[i])
			p.SendPipelineSync()
		}
		if err := p.Flush(); err != nil {
			return fmt.Errorf("pgbaseline: %w", err)
		}
		c.retry = c.retry[:0]
		var failed error
		for _, i := range pending {
			code, pgErr, err := readCode(p)
			if err == nil {
				err = readSync(p)
			}
			if err != nil {
				_ = p.Close()
				return fmt.Errorf("pgbaseline: %w", err)
			}
			switch {
			case pgErr == nil:
				codes[i] = code
			case retryable(pgErr):
				c.retry = append(c.retry, i)
			case failed == nil:
				failed = fmt.Errorf("pgbaseline: command %d: %w", i, pgErr)
			}
		}
		if err := p.Close(); err != nil {
			return fmt.Errorf("pgbaseline: %w", err)
		}
		if failed != nil {
			return failed
		}
		pending = append(pending[:0], c.retry...)
	}
	return nil
}

// runTransaction runs the commands in order in one transaction, in one
// round trip, and returns their codes. It is for untimed set-up only.
func (c *client) runTransaction(ctx context.Context, conn *pgx.Conn, cmds []ledger.Command) ([]ledger.Code, error) {
	p := conn.PgConn().StartPipeline(ctx)
	p.SendQueryParams("BEGIN", nil, nil, nil, nil)
	for i := range cmds {
		c.send(p, &cmds[i])
	}
	p.SendQueryParams("COMMIT", nil, nil, nil, nil)
	if err := p.Sync(); err != nil {
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	codes := make([]ledger.Code, len(cmds))
	err := readTransaction(p, codes)
	// Close reads whatever an early failure left unread.
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pgbaseline: set-up transaction: %w", err)
	}
	return codes, nil
}

// readTransaction reads the results of runTransaction's pipeline: BEGIN,
// one code per command, COMMIT and the Sync. After a server error the
// server skips the rest of the transaction, so reading stops there.
func readTransaction(p *pgconn.Pipeline, codes []ledger.Code) error {
	for i := -1; i <= len(codes); i++ { // -1 is BEGIN, len(codes) is COMMIT
		code, pgErr, err := readCode(p)
		if err != nil {
			return err
		}
		if pgErr != nil {
			return pgErr
		}
		if i >= 0 && i < len(codes) {
			codes[i] = code
		}
	}
	return readSync(p)
}

// send queues one command's call of its prepared statement.
func (c *client) send(p *pgconn.Pipeline, cmd *ledger.Command) {
	c.buf, c.offsets = c.buf[:0], c.offsets[:0]
	statement := transferStatement
	switch cmd.Op {
	case ledger.OpCreateTransfer:
		t := &cmd.Transfer
		c.id(t.ID)
		c.id(t.DebitAccount)
		c.id(t.CreditAccount)
		c.int64(int64(t.Amount)) // below 2^63: checkBatch
		c.id(t.PendingID)
		c.int64(int64(t.Timeout))
		c.int32(int32(t.Currency))
		c.int32(int32(t.Code))
		c.int32(int32(t.Flags))
		c.id(t.UserRef)
	case ledger.OpCreateAccount:
		a := &cmd.Account
		statement = accountStatement
		c.id(a.ID)
		c.int64(int64(a.Participant))
		c.int32(int32(a.Currency))
		c.int32(int32(a.Kind))
		c.int32(int32(a.Flags))
		c.int64(int64(a.Limit))   // below 2^63: checkBatch
		c.int64(int64(a.UserRef)) // kept bit for bit; only compared for equality
		c.bool(currencyKnown(a.Currency))
	default:
		invariant.Always(false, "command %s passed checkBatch", cmd.Op)
	}
	// The slices are cut only now, when buf no longer grows.
	c.values = c.values[:0]
	from := 0
	for _, to := range c.offsets {
		c.values = append(c.values, c.buf[from:to])
		from = to
	}
	// The pipeline copies the parameters into its send buffer here.
	p.SendQueryPrepared(statement, c.values, binaryFormat, binaryFormat)
}

func (c *client) id(id ledger.ID) { c.buf = append(c.buf, id[:]...); c.end() }
func (c *client) int64(v int64)   { c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(v)); c.end() }
func (c *client) int32(v int32)   { c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(v)); c.end() }
func (c *client) end()            { c.offsets = append(c.offsets, len(c.buf)) }

func (c *client) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	c.buf = append(c.buf, b)
	c.end()
}

// readCode reads the result of the next query in the pipeline: the code
// its function returned, a server error for that query alone (the
// connection stays usable), or an error that breaks the connection. A
// query without rows (BEGIN, COMMIT) answers code 0.
func readCode(p *pgconn.Pipeline) (code ledger.Code, pgErr *pgconn.PgError, err error) {
	res, err := p.GetResults()
	if errors.As(err, &pgErr) {
		return 0, pgErr, nil
	}
	if err != nil {
		return 0, nil, err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected pipeline result %T", res)
	}
	for rr.NextRow() {
		v := rr.Values()
		if len(v) != 1 || len(v[0]) != 4 {
			_, _ = rr.Close()
			return 0, nil, fmt.Errorf("unexpected result row of %d columns", len(v))
		}
		code = ledger.Code(binary.BigEndian.Uint32(v[0]))
	}
	if _, err := rr.Close(); err != nil {
		if errors.As(err, &pgErr) {
			return 0, pgErr, nil
		}
		return 0, nil, err
	}
	return code, nil, nil
}

// readSync reads the end of one implicit transaction.
func readSync(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("unexpected pipeline result %T, want the end of a transaction", res)
	}
	return nil
}

// retryable reports a server error after which the transaction did
// nothing and may simply run again: a deadlock or a serialization failure.
func retryable(err *pgconn.PgError) bool {
	return err.Code == "40P01" || err.Code == "40001"
}
