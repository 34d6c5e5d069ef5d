package repository_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twinflow/twinflow/repository"
)

// The crash-safety test re-executes the test binary as a writer process (this helper,
// selected by TWINFLOW_CRASH_DSN), which writes heavily and concurrently — changes walking
// the state machine with their ledger records, plain ledger appends, telemetry batches —
// and appends a line to an acknowledgement file after each call returns (the write is
// unbuffered, so it survives SIGKILL of the process). The parent kills it with SIGKILL at
// a random moment, reopens the store and checks that everything acknowledged is there,
// that the ledger verifies, and that no partial record is visible.

const (
	crashBatch   = 2500 // samples per series per telemetry batch (more than one chunk)
	crashSeries  = 5    // series per telemetry batch
	crashWorkers = 4    // change workers
)

var crashPath = []repository.ChangeState{repository.StateDraft, repository.StateValidating, repository.StateValidated,
	repository.StateApproved, repository.StateCommitting, repository.StateCommitted}

func TestCrashHelper(t *testing.T) {
	dsn := os.Getenv("TWINFLOW_CRASH_DSN")
	if dsn == "" {
		t.Skip("crash writer process only (run by TestCrashSafety)")
	}
	round := os.Getenv("TWINFLOW_CRASH_ROUND")
	ack, err := os.OpenFile(os.Getenv("TWINFLOW_CRASH_ACK"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(ack, format+"\n", a...); err != nil {
			panic(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // stops by itself
	defer cancel()
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				if _, err := st.Changes().Create(ctx, repository.Change{ID: id, TwinID: "live", Payload: json.RawMessage(`{"i":1}`)}); err != nil {
					return
				}
				acked("C %s", id)
				for k := 1; k < len(crashPath); k++ {
					_, tr, err := st.Changes().Transition(ctx, id, repository.TransitionRequest{From: crashPath[k-1], To: crashPath[k],
						Actor: "crash", Report: json.RawMessage(fmt.Sprintf(`{"k":%d}`, k))})
					if err != nil {
						return
					}
					acked("T %s %d %d", id, tr.Version, tr.LedgerSeq)
				}
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			rec, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware,
				Subject: "r" + round, Payload: json.RawMessage(fmt.Sprintf(`{"version":"%d"}`, i))})
			if err != nil {
				return
			}
			acked("L %d", rec.Seq)
		}
	}()
	go func() {
		defer wg.Done()
		dev := "crash-r" + round
		for b := 0; ctx.Err() == nil; b++ {
			samples := make([]repository.Sample, 0, crashSeries*crashBatch)
			for i := range crashBatch {
				for k := range crashSeries {
					samples = append(samples, repository.Sample{Device: dev, Interface: fmt.Sprintf("eth%d", k), Metric: "rate",
						Time: crashT0.Add(time.Duration(b*crashBatch+i) * time.Millisecond), Value: float64(i)})
				}
			}
			if err := st.Telemetry().Append(ctx, samples); err != nil {
				return
			}
			acked("S %s %d", dev, b)
		}
	}()
	wg.Wait()
}

var crashT0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // mostly waiting on fsync and process start: the backends overlap well
			dsn := b.dsn(t)
			// Create the schema first so every round starts with writes.
			st0, err := repository.Open(context.Background(), dsn, repository.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_ = st0.Close()
			rounds := 20
			total := crashTotals{}
			for round := range rounds {
				crashRound(t, dsn, round, &total)
			}
			t.Logf("%s: %d rounds, acknowledged %d changes, %d transitions, %d ledger appends, %d telemetry batches; final ledger %d records",
				b.name, rounds, total.changes, total.transitions, total.ledger, total.batches, total.records)
			if total.transitions == 0 || total.batches == 0 || total.ledger == 0 {
				t.Fatalf("the writer acknowledged too little work to test anything: %+v", total)
			}
		})
	}
}

type crashTotals struct{ changes, transitions, ledger, batches, records int }

// crashHooks lets a variant of the test crash more than the writer: kill runs right
// before the writer is killed, restart right after.
type crashHooks struct{ kill, restart func() }

func crashRound(t *testing.T, dsn string, round int, total *crashTotals) {
	crashRoundWith(t, dsn, round, total, crashHooks{})
}

func crashRoundWith(t *testing.T, dsn string, round int, total *crashTotals, hooks crashHooks) {
	t.Helper()
	ackPath := filepath.Join(t.TempDir(), fmt.Sprintf("ack-%d", round))
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TWINFLOW_CRASH_DSN="+dsn, "TWINFLOW_CRASH_ACK="+ackPath,
		"TWINFLOW_CRASH_ROUND="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("round %d: writer exited before it was ready", round)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("round %d: writer not ready after 30s", round)
	}
	// Let the writer get going (at least one acknowledged transition and telemetry
	// batch, however slow the machine), then kill it at a random moment.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(ackPath)
		if bytes.Contains(b, []byte("S ")) && bytes.Contains(b, []byte("T ")) {
			break
		}
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	if hooks.kill != nil {
		hooks.kill()
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	if hooks.restart != nil {
		hooks.restart()
	}

	// "Restart": reopen and check.
	ctx := context.Background()
	if strings.HasPrefix(dsn, "postgres") {
		// A COPY or COMMIT the writer sent just before dying still completes on the
		// server; wait until its backends are gone so the checks see a settled database.
		waitBackendsGone(t, dsn)
	}
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer st.Close()
	res, err := st.Ledger().Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("round %d: ledger does not verify after SIGKILL: %+v", round, res)
	}
	total.records = res.Records
	recs, err := st.Ledger().List(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ledger := map[int64]repository.LedgerRecord{}
	ledgerTransitions := map[string]int{}
	created := map[string]bool{}
	for _, r := range recs {
		ledger[r.Seq] = r
		switch r.Kind {
		case repository.KindChangeTransition:
			ledgerTransitions[r.Subject]++
		case repository.KindChangeCreated:
			created[r.Subject] = true
		}
	}

	// Every acknowledged write is there.
	data, err := os.ReadFile(ackPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	lines = lines[:len(lines)-1] // the last element is after the final newline (or a torn line)
	batches := map[int]bool{}
	dev := fmt.Sprintf("crash-r%d", round)
	for _, ln := range lines {
		f := strings.Fields(ln)
		switch f[0] {
		case "C":
			total.changes++
			if _, err := st.Changes().Get(ctx, f[1]); err != nil {
				t.Fatalf("round %d: acknowledged change %s lost: %v", round, f[1], err)
			}
		case "T":
			total.transitions++
			ver, _ := strconv.ParseInt(f[2], 10, 64)
			seq, _ := strconv.ParseInt(f[3], 10, 64)
			c, err := st.Changes().Get(ctx, f[1])
			if err != nil || c.Version < ver {
				t.Fatalf("round %d: acknowledged transition %s v%d lost: %+v %v", round, f[1], ver, c, err)
			}
			if r, ok := ledger[seq]; !ok || r.Subject != f[1] || r.Kind != repository.KindChangeTransition {
				t.Fatalf("round %d: ledger record %d of acknowledged transition %s v%d missing: %+v", round, seq, f[1], ver, r)
			}
		case "L":
			total.ledger++
			seq, _ := strconv.ParseInt(f[1], 10, 64)
			if r, ok := ledger[seq]; !ok || r.Kind != repository.KindDeviceSoftware {
				t.Fatalf("round %d: acknowledged ledger record %d lost", round, seq)
			}
		case "S":
			total.batches++
			b, _ := strconv.Atoi(f[2])
			batches[b] = true
		default:
			t.Fatalf("round %d: bad ack line %q", round, ln)
		}
	}

	// No partial change: every change has its creation record, exactly Version
	// transitions, each with its ledger record, and the ledger has no transition
	// record without a transition row.
	changes, err := st.Changes().List(ctx, repository.ChangeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, c := range changes {
		if !created[c.ID] {
			t.Fatalf("round %d: change %s has no change.created ledger record", round, c.ID)
		}
		trs, err := st.Changes().Transitions(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(trs)) != c.Version || c.State != crashPath[c.Version] {
			t.Fatalf("round %d: change %s at %s v%d has %d transitions", round, c.ID, c.State, c.Version, len(trs))
		}
		for _, tr := range trs {
			if r, ok := ledger[tr.LedgerSeq]; !ok || r.Subject != c.ID {
				t.Fatalf("round %d: transition %s v%d without its ledger record %d", round, c.ID, tr.Version, tr.LedgerSeq)
			}
		}
		rows[c.ID] = len(trs)
	}
	for id, n := range ledgerTransitions {
		if rows[id] != n {
			t.Fatalf("round %d: ledger has %d transition records for %s, the store %d transitions", round, n, id, rows[id])
		}
	}
	for id := range created {
		if _, ok := rows[id]; !ok {
			t.Fatalf("round %d: ledger records the creation of %s, which does not exist", round, id)
		}
	}

	// Telemetry: whole batches only (every series of a batch has all its samples, or
	// no series has any), every acknowledged batch present.
	var stored map[int]bool
	for k := range crashSeries {
		iface := fmt.Sprintf("eth%d", k)
		pts, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: dev, Interface: iface, Metric: "rate",
			From: crashT0, To: crashT0.Add(24 * time.Hour), Step: crashBatch * time.Millisecond})
		if errors.Is(err, repository.ErrNotFound) && len(batches) == 0 {
			pts, err = nil, nil
		}
		if err != nil {
			t.Fatalf("round %d: telemetry %s: %v", round, iface, err)
		}
		these := map[int]bool{}
		for _, p := range pts {
			b := int(p.Time.Sub(crashT0) / (crashBatch * time.Millisecond))
			if p.Count != crashBatch {
				t.Fatalf("round %d: telemetry batch %d of %s is partial: %d of %d samples", round, b, iface, p.Count, crashBatch)
			}
			these[b] = true
		}
		if stored == nil {
			stored = these
		} else if !maps.Equal(stored, these) {
			t.Fatalf("round %d: telemetry batches differ between series (partial batch): eth0 %v, %s %v", round, stored, iface, these)
		}
	}
	for b := range batches {
		if !stored[b] {
			t.Fatalf("round %d: acknowledged telemetry batch %d lost", round, b)
		}
	}
}

// waitBackendsGone waits until no other session is connected to the test database.
func waitBackendsGone(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatalf("waiting for the killed writer's sessions to end: %v", err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
