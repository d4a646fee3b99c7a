package pgbaseline

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// The prepared statements every pooled connection holds. The casts fix
// the parameter types, so that parameters go over the wire in binary
// without a describe round trip.
const (
	transferStatement = "pgbaseline_transfer"
	transferSQL       = "SELECT transfer($1::uuid, $2::uuid, $3::uuid, $4::bigint, $5::uuid, $6::bigint, $7::integer, $8::integer, $9::integer, $10::uuid)"
	accountStatement  = "pgbaseline_create_account"
	accountSQL        = "SELECT create_account($1::uuid, $2::bigint, $3::integer, $4::integer, $5::integer, $6::bigint, $7::bigint, $8::boolean)"
)

// Options configure a DB. The zero value gives the defaults, which were
// the fastest measured on the 2-core benchmark machine (see bench_test.go):
// 16 clients sending 4 transfers per round trip beat 64 clients, with
// one or four, on both the uniform and the skewed workload.
type Options struct {
	// Clients is the number of pooled connections, each driven by its own
	// goroutine during Apply; default 16. Concurrent commits let
	// PostgreSQL share one WAL flush among many transactions (group
	// commit); past the few needed to fill each flush, more backends than
	// cores only add lock waits and context switches.
	Clients int
	// Pipeline is how many transfers a client sends in one round trip;
	// default 4. Each transfer is still its own transaction. More saves
	// round trips and wake-ups, but a transfer waiting for a hot account's
	// lock holds up the ones queued behind it on its connection.
	Pipeline int
}

func (o Options) withDefaults() Options {
	if o.Clients == 0 {
		o.Clients = 16
	}
	if o.Pipeline == 0 {
		o.Pipeline = 4
	}
	return o
}

// Validate reports every problem with the options.
func (o Options) Validate() error {
	var errs []error
	if o.Clients < 1 || o.Clients > clientsMax {
		errs = append(errs, fmt.Errorf("pgbaseline: clients %d: want 1 to %d", o.Clients, clientsMax))
	}
	if o.Pipeline < 1 || o.Pipeline > pipelineTransfersMax {
		errs = append(errs, fmt.Errorf("pgbaseline: pipeline %d: want 1 to %d", o.Pipeline, pipelineTransfersMax))
	}
	return errors.Join(errs...)
}

// DB is the baseline's double-entry ledger in one PostgreSQL database,
// reached through a pool of Options.Clients connections. Its methods may
// be called from several goroutines, but a command that depends on
// another one (a post and its pending transfer, a transfer and its
// account) must wait until the other's Apply has returned.
type DB struct {
	pool *pgxpool.Pool
	opts Options
}

// Open connects to the database at url, creates the schema and the
// functions when they are missing, and prepares the statements on every
// connection.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	cfg.MaxConns = int32(opts.Clients)
	cfg.MinConns = int32(opts.Clients)
	// The schema must exist before a connection can prepare statements on
	// it, so it is made over a connection of its own.
	if err := createSchema(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Prepare(ctx, transferStatement, transferSQL); err != nil {
			return err
		}
		_, err := conn.Prepare(ctx, accountStatement, accountSQL)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	return &DB{pool: pool, opts: opts}, nil
}

func createSchema(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgbaseline: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The simple protocol runs the whole script, several statements, at once.
	if _, err := conn.Exec(ctx, schemaSQL(), pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("pgbaseline: create schema: %w", err)
	}
	return nil
}

// Close closes every connection.
func (db *DB) Close() { db.pool.Close() }

// Setup applies set-up batches (account creations and funding transfers)
// one command after another on one connection, in order, in transactions
// of setupTransactionCommandsMax commands: it is not timed, and it is the
// fast way to fund many accounts from one hub account. Every command must
// succeed; the first that does not fails Setup with ErrSetupRefused.
func (db *DB) Setup(ctx context.Context, batches []ledger.Batch) error {
	for bi := range batches {
		if err := checkBatch(&batches[bi]); err != nil {
			return err
		}
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgbaseline: %w", err)
	}
	defer conn.Release()
	var c client
	for bi := range batches {
		cmds := batches[bi].Commands
		for start := 0; start < len(cmds); start += setupTransactionCommandsMax {
			chunk := cmds[start:min(start+setupTransactionCommandsMax, len(cmds))]
			codes, err := c.runTransaction(ctx, conn.Conn(), chunk)
			if err != nil {
				return err
			}
			for i, code := range codes {
				if !code.Succeeded() {
					return fmt.Errorf("%w: batch %d, command %d: %s", ErrSetupRefused, bi, start+i, code)
				}
			}
		}
	}
	return nil
}

// checkBatch refuses, before anything is sent, the commands the baseline
// does not implement and the amounts its bigint columns cannot hold.
func checkBatch(b *ledger.Batch) error {
	for i := range b.Commands {
		cmd := &b.Commands[i]
		switch cmd.Op {
		case ledger.OpCreateAccount:
			if cmd.Account.Limit > math.MaxInt64 {
				return fmt.Errorf("%w: command %d: limit %d", ErrAmountTooLarge, i, cmd.Account.Limit)
			}
		case ledger.OpCreateTransfer:
			if cmd.Transfer.Flags&ledger.Linked != 0 {
				return fmt.Errorf("%w: command %d: linked transfer", ErrUnsupported, i)
			}
			if cmd.Transfer.Amount > math.MaxInt64 {
				return fmt.Errorf("%w: command %d: amount %d", ErrAmountTooLarge, i, cmd.Transfer.Amount)
			}
		default:
			return fmt.Errorf("%w: command %d: %s", ErrUnsupported, i, cmd.Op)
		}
	}
	return nil
}

// Balances reads every account, keyed by ID. Timestamp is left zero: the
// baseline's clock is not the ledger's.
func (db *DB) Balances(ctx context.Context) (map[ledger.ID]ledger.Account, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, participant, currency, kind, flags, "limit",
		debits_pending, debits_posted, credits_pending, credits_posted, user_ref FROM accounts`)
	if err != nil {
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	defer rows.Close()
	out := map[ledger.ID]ledger.Account{}
	for rows.Next() {
		var a ledger.Account
		var participant, userRef int64
		var currency, kind, flags int32
		var limit, dp, dpo, cp, cpo int64
		if err := rows.Scan((*[16]byte)(&a.ID), &participant, &currency, &kind, &flags, &limit,
			&dp, &dpo, &cp, &cpo, &userRef); err != nil {
			return nil, fmt.Errorf("pgbaseline: %w", err)
		}
		a.Participant, a.UserRef = uint64(participant), uint64(userRef)
		a.Currency, a.Kind, a.Flags = uint16(currency), ledger.AccountKind(kind), ledger.AccountFlags(flags)
		a.Limit = ledger.Amount(limit)
		a.DebitsPending, a.DebitsPosted = ledger.Amount(dp), ledger.Amount(dpo)
		a.CreditsPending, a.CreditsPosted = ledger.Amount(cp), ledger.Amount(cpo)
		out[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgbaseline: %w", err)
	}
	return out, nil
}

// Check verifies the double-entry invariants over the whole database: per
// currency, debits equal credits, pending and posted alike; and no
// account breaks the balance rule of its flags. It reads every account.
func (db *DB) Check(ctx context.Context) error {
	var unbalanced, breaking int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT currency FROM accounts GROUP BY currency
			HAVING sum(debits_pending) <> sum(credits_pending) OR sum(debits_posted) <> sum(credits_posted)) u),
		(SELECT count(*) FROM accounts WHERE
			(flags & $1 <> 0 AND debits_pending::numeric + debits_posted > credits_posted::numeric + "limit") OR
			(flags & $2 <> 0 AND credits_pending::numeric + credits_posted > debits_posted::numeric + "limit"))`,
		int32(ledger.DebitsMustNotExceedCredits), int32(ledger.CreditsMustNotExceedDebits)).Scan(&unbalanced, &breaking)
	if err != nil {
		return fmt.Errorf("pgbaseline: %w", err)
	}
	if unbalanced != 0 || breaking != 0 {
		return fmt.Errorf("pgbaseline: check: %d currencies whose debits and credits differ, %d accounts breaking their rule", unbalanced, breaking)
	}
	return nil
}

// currencyKnown is the ledger's currency check, made in Go because the
// currency table lives in package money.
func currencyKnown(numeric uint16) bool {
	_, ok := money.ByNumeric(numeric)
	return ok
}
