package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger"
)

// request is one caller's commands waiting to be proposed.
type request struct {
	cmds []ledger.Command
	done chan reply // buffered 1: the proposer never blocks on a caller
	one  [1]ledger.Command
	// then, when set, takes the answer instead of done (submitAsync).
	then func(ledger.Result, error)
}

// answer gives the request its reply: on done for a waiting caller, or to
// then, after the request has gone back to the pool.
func (r *request) answer(rep reply) {
	if r.then == nil {
		r.done <- rep
		return
	}
	then := r.then
	var res ledger.Result
	if rep.err == nil {
		res = rep.results[0]
	}
	r.then, r.one[0], r.cmds = nil, ledger.Command{}, nil
	requests.Put(r)
	then(res, rep.err)
}

// requests recycles submitOne's requests, with their reply channels: a
// payment makes two proposals, and three allocations each added up.
var requests = sync.Pool{New: func() any { return &request{done: make(chan reply, 1)} }}

type reply struct {
	results []ledger.Result
	err     error
}

// proposer packs concurrent callers' commands into log entries. It is the
// single owner of the pending proposals: callers enqueue into a bounded
// channel and wait on their own reply channel; one goroutine seals entries
// (by count, by bytes, or when the linger time passes) and keeps up to
// EntriesInflightMax of them in flight. Results go back to each caller in
// its commands' order.
type proposer struct {
	cfg      Config
	raft     *raft.Raft
	queue    chan *request
	queued   atomic.Int64  // commands in the queue, bounded by QueueMax
	inflight chan struct{} // a token per entry in flight
	released chan struct{} // signalled (without blocking) when an entry finishes
	stopped  chan struct{} // closed when run returns, before its last drain
	metrics  *metrics
	now      func() time.Time

	lastStamp uint64 // the last batch timestamp this leader wrote
	// cmds gathers an entry's commands for its encoding; propose (on the
	// run goroutine only) reuses it, since only the encoded entry outlives
	// the call. Fresh, it was a sixth of all that bench e2e allocated at
	// 30,000 payments/s (up to 1,024 commands of 170 bytes an entry).
	cmds []ledger.Command
}

func newProposer(cfg Config, r *raft.Raft, m *metrics) *proposer {
	return &proposer{
		cfg:      cfg,
		raft:     r,
		queue:    make(chan *request, cfg.QueueMax),
		inflight: make(chan struct{}, cfg.EntriesInflightMax),
		released: make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		metrics:  m,
		now:      time.Now,
	}
}

// submit enqueues cmds and waits for their results. It fails at once with
// ErrOverloaded when the queue is full.
func (p *proposer) submit(ctx context.Context, cmds []ledger.Command) ([]ledger.Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	if len(cmds) > p.cfg.BatchCommandsMax {
		return nil, fmt.Errorf("replica: %d commands in one submit, at most %d", len(cmds), p.cfg.BatchCommandsMax)
	}
	// A command that ledger.Batch cannot encode would fail the whole entry,
	// and with it every other caller whose commands share the entry: refuse
	// it here, to its own caller alone.
	for i := range cmds {
		if err := checkOp(i, cmds[i].Op); err != nil {
			return nil, err
		}
	}
	req := &request{cmds: cmds, done: make(chan reply, 1)}
	r, _ := p.wait(ctx, req)
	return r.results, r.err
}

// checkOp refuses command i's op when ledger.Batch cannot encode it.
func checkOp(i int, op ledger.Op) error {
	if op < ledger.OpCreateAccount || op > ledger.OpExpire {
		return fmt.Errorf("%w: command %d has unknown op %d", ledger.ErrBatchMalformed, i, op)
	}
	return nil
}

// submitOne is submit for one command, without allocating.
func (p *proposer) submitOne(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	if err := checkOp(0, cmd.Op); err != nil {
		return ledger.Result{}, err
	}
	req := requests.Get().(*request)
	req.one[0] = cmd
	req.cmds = req.one[:]
	r, answered := p.wait(ctx, req)
	var res ledger.Result
	if r.err == nil {
		res = r.results[0]
	}
	if answered { // the proposer is done with it
		req.one[0], req.cmds = ledger.Command{}, nil
		requests.Put(req)
	}
	return res, r.err
}

// submitAsync is submitOne without waiting: then gets the result, exactly
// once, on one of the proposer's goroutines (or on the caller's, at once,
// when the command is refused before it is queued). then must not block:
// the results of the other commands of its entry wait for it.
func (p *proposer) submitAsync(cmd ledger.Command, then func(ledger.Result, error)) {
	if err := checkOp(0, cmd.Op); err != nil {
		then(ledger.Result{}, err)
		return
	}
	req := requests.Get().(*request)
	req.one[0] = cmd
	req.cmds = req.one[:]
	req.then = then
	if err := p.enqueue(req); err != nil {
		req.answer(reply{err: err})
	}
}

// enqueue hands req to the proposer, or fails at once with ErrOverloaded
// when the queue is full.
func (p *proposer) enqueue(req *request) error {
	n := int64(len(req.cmds))
	if p.queued.Add(n) > int64(p.cfg.QueueMax) {
		p.queued.Add(-n)
		p.metrics.overloaded.Inc()
		return ErrOverloaded
	}
	select {
	case p.queue <- req:
	default:
		p.queued.Add(-n)
		p.metrics.overloaded.Inc()
		return ErrOverloaded
	}
	select {
	case <-p.stopped:
		// run returned, maybe after its last drain, and will never see this
		// request (the caller fetched the proposer as its term ended):
		// answer it, and any other latecomer, here.
		p.drain(ErrStopped)
	default:
	}
	return nil
}

// wait enqueues req and waits for its reply. answered is false when ctx
// ended first: the proposer may still answer req later, so the caller must
// not reuse it.
func (p *proposer) wait(ctx context.Context, req *request) (r reply, answered bool) {
	if err := p.enqueue(req); err != nil {
		return reply{err: err}, true
	}
	if ctx.Done() == nil { // nothing to select on
		return <-req.done, true
	}
	select {
	case r := <-req.done:
		return r, true
	case <-ctx.Done():
		// The commands may still be applied; the caller retries by ID.
		return reply{err: fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())}, false
	}
}

// run seals and proposes entries until ctx ends. On return every queued
// request has been answered.
func (p *proposer) run(ctx context.Context) {
	var carry *request // a request that did not fit the previous entry
	for {
		// A fresh slice per entry: the entry's await goroutine keeps it.
		reqs := make([]*request, 0, 8)
		if carry != nil {
			reqs, carry = append(reqs, carry), nil
		} else {
			select {
			case <-ctx.Done():
				p.stop()
				return
			case req := <-p.queue:
				p.dequeued(req)
				reqs = append(reqs, req)
			}
		}
		reqs, carry = p.fill(ctx, reqs)
		if ctx.Err() != nil {
			<-p.inflight // fill took a token; give it back
			fail(reqs, ErrStopped)
			if carry != nil {
				fail([]*request{carry}, ErrStopped)
			}
			p.stop()
			return
		}
		p.propose(reqs)
	}
}

// fill gathers more requests into the entry and returns holding an
// inflight token. It is a group commit: an entry that is not full is
// proposed only once the linger time has passed and nothing is in flight,
// so while one entry is committing the next one grows, and a lightly
// loaded cluster carries few entries with many commands rather than many
// tiny ones (each entry costs a log write and a Pebble commit on every
// replica). Full entries (BatchCommandsTarget commands or more) pipeline,
// up to EntriesInflightMax of them, which is what carries a saturated
// cluster. A request that would take the entry past BatchCommandsMax is
// returned as carry for the next entry.
func (p *proposer) fill(ctx context.Context, reqs []*request) (sealed []*request, carry *request) {
	count := 0
	for _, r := range reqs {
		count += len(r.cmds)
	}
	linger := time.NewTimer(p.cfg.BatchLinger)
	defer linger.Stop()
	lingerC := linger.C
	for count < p.cfg.BatchCommandsTarget {
		if lingerC == nil && len(p.inflight) == 0 {
			select {
			case p.inflight <- struct{}{}:
				return reqs, nil
			default: // another entry took the slot meanwhile: keep filling
			}
		}
		select {
		case req := <-p.queue:
			p.dequeued(req)
			if count+len(req.cmds) > p.cfg.BatchCommandsMax {
				carry = req
				return p.takeSlot(ctx, reqs, carry)
			}
			reqs = append(reqs, req)
			count += len(req.cmds)
		case <-lingerC:
			lingerC = nil
		case <-p.released:
			// An entry finished: the loop checks whether the pipeline is idle.
		case <-ctx.Done():
			p.inflight <- struct{}{}
			return reqs, carry
		}
	}
	return p.takeSlot(ctx, reqs, carry)
}

// takeSlot waits for any free inflight slot for a full entry.
func (p *proposer) takeSlot(ctx context.Context, reqs []*request, carry *request) ([]*request, *request) {
	select {
	case p.inflight <- struct{}{}:
	case <-ctx.Done():
		p.inflight <- struct{}{}
	}
	return reqs, carry
}

// propose encodes the requests into one entry, applies it through Raft and
// hands the wait to a goroutine that holds one inflight token.
func (p *proposer) propose(reqs []*request) {
	count := 0
	for _, r := range reqs {
		count += len(r.cmds)
	}
	batch := ledger.Batch{Commands: slices.Grow(p.cmds[:0], count)}
	for _, r := range reqs {
		batch.Commands = append(batch.Commands, r.cmds...)
	}
	p.cmds = batch.Commands
	// The leader's clock, never behind what it stamped before: the state
	// machine keeps timestamps increasing anyway, this keeps them close to
	// real time.
	stamp := max(uint64(p.now().UnixNano()), p.lastStamp+1)
	p.lastStamp = stamp
	batch.Timestamp = stamp
	data, err := batch.AppendEncoded(make([]byte, 0, batch.EncodedSize()))
	if err != nil {
		<-p.inflight
		fail(reqs, err)
		return
	}
	// The token taken by fill is released by await.
	p.metrics.batchCommands.Observe(float64(len(batch.Commands)))
	start := time.Now()
	future := p.raft.Apply(data, p.cfg.ApplyTimeout)
	go p.await(future, reqs, start)
}

// await waits for one entry's outcome under its own deadline: with
// BatchApplyCh on, a future of a node that is shutting down may never be
// answered, and no caller may hang on it.
func (p *proposer) await(future raft.ApplyFuture, reqs []*request, start time.Time) {
	errc := make(chan error, 1)
	go func() { errc <- future.Error() }()
	var err error
	timer := time.NewTimer(p.cfg.ApplyTimeout + time.Second)
	select {
	case err = <-errc:
	case <-timer.C:
		err = errors.New("raft future not answered in time")
	}
	timer.Stop()
	p.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	// The entry is done with: the next one may go before the callers
	// below (submitAsync's run here) have their results.
	<-p.inflight
	select {
	case p.released <- struct{}{}:
	default:
	}
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			fail(reqs, p.notLeader())
			return
		}
		fail(reqs, fmt.Errorf("%w: %w", ErrUnknownOutcome, err))
		return
	}
	resp, ok := future.Response().(*entryResponse)
	if !ok || resp.err != nil {
		fail(reqs, fmt.Errorf("%w: entry response %v", ErrUnknownOutcome, future.Response()))
		return
	}
	offset := 0
	for _, r := range reqs {
		n := len(r.cmds)
		r.answer(reply{results: resp.results[offset : offset+n : offset+n]})
		offset += n
	}
}

func (p *proposer) notLeader() error {
	addr, id := p.raft.LeaderWithID()
	return &NotLeaderError{Leader: string(id), LeaderAddr: string(addr)}
}

func (p *proposer) dequeued(req *request) { p.queued.Add(-int64(len(req.cmds))) }

// stop ends the proposer's service: submit sees stopped from now on and
// answers for itself whatever it enqueues after the drain below.
func (p *proposer) stop() {
	close(p.stopped)
	p.drain(ErrStopped)
}

// drain answers every queued request with err.
func (p *proposer) drain(err error) {
	for {
		select {
		case req := <-p.queue:
			p.dequeued(req)
			req.answer(reply{err: err})
		default:
			return
		}
	}
}

func fail(reqs []*request, err error) {
	for _, r := range reqs {
		r.answer(reply{err: err})
	}
}
