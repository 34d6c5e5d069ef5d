package repository

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// ledgerDomain prefixes every hashed record so a ledger hash can never collide with a
// hash computed for another purpose.
const ledgerDomain = "twinflow-ledger-v1\x00"

// genesisHash is the PrevHash of the first record: 32 zero bytes.
var genesisHash = make([]byte, sha256.Size)

// LedgerHash computes a record's hash: SHA-256 over the canonical encoding
//
//	"twinflow-ledger-v1\x00" ||
//	u64be(seq) || i64be(unix microseconds of time) ||
//	u32be(len(kind)) || kind || u32be(len(subject)) || subject ||
//	u32be(len(payload)) || payload || prev_hash (32 bytes)
//
// Lengths make the encoding unambiguous; times are microseconds because that is what
// both backends store exactly.
func LedgerHash(seq int64, t time.Time, kind, subject string, payload, prevHash []byte) []byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(ledgerDomain))
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixMicro()))
	h.Write(b[:])
	for _, s := range [][]byte{[]byte(kind), []byte(subject), payload} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.Write(s)
	}
	h.Write(prevHash)
	return h.Sum(nil)
}

// chainVerifier checks records one by one, in the order the store returns them
// (ascending seq).
type chainVerifier struct {
	n        int
	prevSeq  int64
	prevHash []byte
	bad      *int64
	reason   string
}

func newChainVerifier() *chainVerifier {
	return &chainVerifier{prevHash: genesisHash}
}

// add checks one record; it returns false once the chain is broken.
func (v *chainVerifier) add(r LedgerRecord) bool {
	v.n++
	if v.bad != nil {
		return false
	}
	want := v.prevSeq + 1
	switch {
	case r.Seq > want:
		v.fail(want, fmt.Sprintf("record %d is missing (deleted?): next record is %d", want, r.Seq))
		return false
	case r.Seq < want:
		v.fail(r.Seq, fmt.Sprintf("record %d is out of order or duplicated (expected %d)", r.Seq, want))
		return false
	}
	if !bytes.Equal(r.PrevHash, v.prevHash) {
		v.fail(r.Seq, fmt.Sprintf("record %d prev_hash %s does not match the hash %s of record %d (reordered, inserted or predecessor edited)",
			r.Seq, short(r.PrevHash), short(v.prevHash), r.Seq-1))
		return false
	}
	got := LedgerHash(r.Seq, r.Time, r.Kind, r.Subject, r.Payload, r.PrevHash)
	if !bytes.Equal(got, r.Hash) {
		v.fail(r.Seq, fmt.Sprintf("record %d content does not match its hash (edited): stored %s, computed %s",
			r.Seq, short(r.Hash), short(got)))
		return false
	}
	v.prevSeq = r.Seq
	v.prevHash = r.Hash
	return true
}

// finish checks the chain against the head row (last seq and hash recorded in the same
// transaction as every append), which catches deletion of the newest records.
func (v *chainVerifier) finish(headSeq int64, headHash []byte) VerifyResult {
	if v.bad == nil {
		switch {
		case headSeq > v.prevSeq:
			v.fail(v.prevSeq+1, fmt.Sprintf("records %d..%d are missing (ledger head is %d, last record is %d)",
				v.prevSeq+1, headSeq, headSeq, v.prevSeq))
		case headSeq < v.prevSeq:
			v.fail(headSeq+1, fmt.Sprintf("record %d is past the ledger head %d (inserted?)", headSeq+1, headSeq))
		case headSeq > 0 && !bytes.Equal(headHash, v.prevHash):
			v.fail(headSeq, fmt.Sprintf("record %d hash %s does not match the ledger head hash %s",
				headSeq, short(v.prevHash), short(headHash)))
		}
	}
	res := VerifyResult{OK: v.bad == nil, Records: v.n, FirstBad: v.bad, Reason: v.reason}
	return res
}

func (v *chainVerifier) fail(seq int64, reason string) {
	v.bad = &seq
	v.reason = reason
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 16 {
		return s[:16]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// ---- group commit ----

// Every write that appends to the ledger (Changes.Create, Changes.Transition,
// Ledger.Append) goes through a groupCommit: concurrent callers queue their
// transaction bodies, and one leader runs everything queued so far in a single
// database transaction, in queue order, then commits once (one fsync for the whole
// group). The ledger head is read (and locked) once per group and written once before
// the commit, so the records of a group form one contiguous stretch of the chain in
// the order the callers were queued. A caller returns only after the transaction
// holding its body has committed: acknowledged means durable, exactly as with one
// transaction per call.
//
// A body that fails is isolated without savepoints: the group's transaction is rolled
// back and the bodies that had run before it are re-run in a fresh transaction with
// the rest of the group (bodies only read and write through their transaction and
// assign their results, so re-running them is safe). The failed body's error is final
// only if it ran first in its transaction; otherwise it may stem from the others'
// uncommitted writes, so it runs again, first, after they committed (see runGroup).
// Under no contention a group is one body and costs what a plain transaction costs.
type groupCommit struct {
	mu      sync.Mutex // guards queue and running
	queue   []*groupUnit
	running bool
}

type groupUnit struct {
	ctx   context.Context
	fn    func(t txn) error
	done  chan error
	tries int // attempts that failed (retried, see runGroup)
}

// groupCommitter is implemented by drivers that own a groupCommit.
type groupCommitter interface{ groups() *groupCommit }

// withLedgerTx runs fn in a read-write transaction shared with concurrent callers (see
// groupCommit) and returns when that transaction has committed (nil) or fn or the
// commit failed.
func (s *store) withLedgerTx(ctx context.Context, fn func(t txn) error) error {
	d := s.d
	if g, ok := d.(*guard); ok {
		if g.closed.Load() {
			return errClosed()
		}
		d = g.driver
	}
	gc, ok := d.(groupCommitter)
	if !ok {
		return s.withTx(ctx, func(t txn) error {
			lt := &ledgerTxn{txn: t, s: s}
			if err := fn(lt); err != nil {
				return err
			}
			return lt.flushHead(ctx)
		})
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	u := &groupUnit{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g := gc.groups()
	g.mu.Lock()
	g.queue = append(g.queue, u)
	if !g.running {
		g.running = true
		go s.runGroups(g)
	}
	g.mu.Unlock()
	return <-u.done
}

// maxGroup bounds the bodies run in one transaction.
const maxGroup = 256

// runGroups commits the queued bodies group by group until the queue is empty.
func (s *store) runGroups(g *groupCommit) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = append([]*groupUnit(nil), g.queue[n:]...)
		g.mu.Unlock()
		s.runGroup(batch)
	}
}

// maxTries bounds the attempts of a body that keeps hitting retryable errors
// (deadlocks with transactions of other processes sharing the database).
const maxTries = 4

// runGroup runs batch in one transaction, isolating failed bodies (see groupCommit).
// A body's error is final only if the body ran first in its transaction: a body that
// fails behind others may have failed because of their uncommitted writes (say, a
// duplicate ID created earlier in the same group, which the re-run might not create),
// so it runs again, first in a transaction of its own, once the others committed.
func (s *store) runGroup(batch []*groupUnit) {
	var behind []*groupUnit // failed behind others: run again after they committed
	for len(batch) > 0 {
		var live []*groupUnit
		for _, u := range batch {
			if err := u.ctx.Err(); err != nil {
				u.done <- fmt.Errorf("repository: %w", err)
				continue
			}
			live = append(live, u)
		}
		if len(live) == 0 {
			break
		}
		ctx := context.WithoutCancel(live[0].ctx)
		t, err := s.d.begin(ctx)
		if err != nil {
			for _, u := range live {
				u.done <- fmt.Errorf("repository: begin: %w", err)
			}
			break
		}
		lt := &ledgerTxn{txn: t, s: s}
		failed, ferr := -1, error(nil)
		for i, u := range live {
			if ferr = u.fn(lt); ferr != nil {
				failed = i
				break
			}
		}
		if failed >= 0 {
			_ = t.rollback(ctx)
			u := live[failed]
			u.tries++
			switch {
			case failed == 0 && (!s.retryable(ferr) || u.tries >= maxTries):
				u.done <- ferr
			case failed == 0:
				behind = append(behind, u) // deadlock victim: again, after the others
			default:
				behind = append(behind, u)
			}
			// re-run the others (those before the failed one ran in the rolled-back
			// transaction)
			batch = append(live[:failed:failed], live[failed+1:]...)
			continue
		}
		err = lt.flushHead(ctx)
		if err == nil {
			if err = t.commit(ctx); err != nil {
				err = fmt.Errorf("repository: commit: %w", err)
			}
		} else {
			_ = t.rollback(ctx)
		}
		if err != nil && s.retryable(err) && live[0].tries < maxTries {
			for _, u := range live {
				u.tries++
			}
			batch = live
			continue
		}
		for _, u := range live {
			u.done <- err
		}
		break
	}
	if len(behind) > 0 {
		s.runGroup(behind)
	}
}

// retryable reports whether err is a transient conflict between concurrent
// transactions (deadlock, serialization failure): the body is run again.
func (s *store) retryable(err error) bool {
	d := s.d
	if g, ok := d.(*guard); ok {
		d = g.driver
	}
	r, ok := d.(interface{ isRetryable(error) bool })
	return ok && r.isRetryable(err)
}

// ledgerTxn is a transaction that appends to the ledger. Appends only queue their
// records; flushHead, right before the commit, locks and reads the ledger head, assigns
// the queued records their sequence numbers, times and hashes in order, and writes
// them, the other deferred rows (whose outcome nothing in the transaction reads:
// transition rows) and the new head in one batch (one round trip on PostgreSQL). The
// head lock is thus held only from the flush to the commit. A failure there fails the
// whole transaction.
type ledgerTxn struct {
	txn
	s       *store
	records []*LedgerRecord
	later   []func() (string, []any)
}

// batchExecer is implemented by transactions that can send several writes in one
// round trip.
type batchExecer interface {
	execBatch(ctx context.Context, qs []queued) error
}

// queued is a deferred write.
type queued struct {
	q    string
	args []any
}

// deferWrite queues a write for flushHead; its arguments are taken at the flush.
func (t *ledgerTxn) deferWrite(w func() (string, []any)) {
	t.later = append(t.later, w)
}

// flushHead completes the queued ledger records and runs the deferred writes.
func (t *ledgerTxn) flushHead(ctx context.Context) error {
	var qs []queued
	if len(t.records) > 0 {
		seq, prev, err := t.s.d.lockLedgerHead(ctx, t.txn)
		if err != nil {
			return fmt.Errorf("repository: ledger head: %w", err)
		}
		at := time.UnixMicro(t.s.nowMicro()).UTC()
		for _, rec := range t.records {
			seq++
			rec.Seq, rec.Time, rec.PrevHash = seq, at, prev
			rec.Hash = LedgerHash(rec.Seq, rec.Time, rec.Kind, rec.Subject, rec.Payload, rec.PrevHash)
			prev = rec.Hash
		}
		defer func() { t.records = nil }()
		for _, w := range t.later {
			q, args := w()
			qs = append(qs, queued{q, args})
		}
		qs = append(qs, queued{`UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`, []any{seq, prev}})
	} else {
		for _, w := range t.later {
			q, args := w()
			qs = append(qs, queued{q, args})
		}
	}
	t.later = nil
	if len(qs) == 0 {
		return nil
	}
	if b, ok := t.txn.(batchExecer); ok && len(qs) > 1 {
		if err := b.execBatch(ctx, qs); err != nil {
			return fmt.Errorf("repository: ledger writes: %w", err)
		}
		return nil
	}
	for _, q := range qs {
		if _, err := t.txn.exec(ctx, q.q, q.args...); err != nil {
			return fmt.Errorf("repository: ledger writes: %w", err)
		}
	}
	return nil
}
