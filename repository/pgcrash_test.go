package repository_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCrashSafetyPostgresServerKill crashes PostgreSQL itself: a private cluster (initdb
// in a temporary directory, Unix socket only) is SIGKILLed — postmaster and every
// backend at once — while the writer process commits, then restarted (crash recovery),
// and the same checks as TestCrashSafety run: everything acknowledged survived, the
// ledger verifies, nothing is partial.
func TestCrashSafetyPostgresServerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	t.Parallel() // mostly waiting on process starts and fsync
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		requireIntegration(t, "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
	}
	pg := newPrivatePG(t, filepath.Dir(bins[len(bins)-1]))
	pg.start()
	total := crashTotals{}
	const rounds = 10
	for round := range rounds {
		crashRoundWith(t, pg.dsn, round, &total, crashHooks{kill: pg.kill, restart: pg.start})
	}
	t.Logf("postgres server kill: %d rounds, acknowledged %d changes, %d transitions, %d ledger appends, %d telemetry batches; final ledger %d records",
		rounds, total.changes, total.transitions, total.ledger, total.batches, total.records)
	if total.transitions == 0 || total.batches == 0 {
		t.Fatalf("the writer acknowledged too little work to test anything: %+v", total)
	}
}

type privatePG struct {
	t        *testing.T
	bin, dir string
	asUser   []string // runuser prefix when running as root
	dsn      string
	cmd      *exec.Cmd
}

func newPrivatePG(t *testing.T, bin string) *privatePG {
	dir, err := os.MkdirTemp("", "twinflow-pgcrash-")
	if err != nil {
		t.Fatal(err)
	}
	pg := &privatePG{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		pg.kill()
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// The server refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			requireIntegration(t, "running as root and no postgres user to run a private server")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	out, err := pg.command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "twinflow", "-N").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.dsn = "postgres:///postgres?host=" + dir + "&user=twinflow"
	return pg
}

func (pg *privatePG) command(name string, args ...string) *exec.Cmd {
	all := append(append([]string{}, pg.asUser...), name)
	all = append(all, args...)
	return exec.Command(all[0], all[1:]...)
}

// start runs the server (after a crash: with crash recovery) and waits until it
// accepts connections.
func (pg *privatePG) start() {
	t := pg.t
	t.Helper()
	cmd := pg.command(filepath.Join(pg.bin, "postgres"), "-D", filepath.Join(pg.dir, "data"), "-k", pg.dir,
		"-c", "listen_addresses=", "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "shared_buffers=32MB",
		"-c", "max_connections=40")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one process group: killed at once
	logf, err := os.OpenFile(filepath.Join(pg.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pg.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, pg.dsn)
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(pg.dir, "server.log"))
			t.Fatalf("private PostgreSQL did not start: %v\n%s", err, tail(string(log), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the postmaster and all its backends, then waits for them to be gone.
func (pg *privatePG) kill() {
	if pg.cmd == nil {
		return
	}
	pgid := pg.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = pg.cmd.Wait()
	pg.cmd = nil
	// Backends notice the postmaster's death; wait until no process of the group is left
	// so the restart does not find the old shared memory in use.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); err != nil {
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	pg.t.Fatalf("processes of the private PostgreSQL (group %d) survive SIGKILL", pgid)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
