// Package labtest serialises integration tests that build the same emulated lab.
//
// A lab's namespaces, interfaces and management bridge are named after its label, and
// a test sweeps its label's leftovers before it deploys (a crashed run's residue) and
// after it ends. Two test runs on one host (two CI jobs, a developer's run beside CI)
// that use the same label would therefore sweep each other's lab away mid-test. Lock
// takes a host-wide lock for the label for the rest of the test: the second run waits
// for the first instead. The lock is an flock(2), so a killed run releases it, and the
// next run's sweep then removes what the killed run left.
package labtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// lockDir makes and returns the directory of the lock files: under /run when it is
// writable (tests that build labs run as root), else under the temporary directory.
func lockDir() (string, error) {
	var err error
	for _, d := range []string{"/run/twinflow-test-labs", filepath.Join(os.TempDir(), "twinflow-test-labs")} {
		if err = os.MkdirAll(d, 0o700); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("labtest: %w", err)
}

// waitLimit bounds how long Lock waits for another run to finish with the label.
var waitLimit = 15 * time.Minute

var labelRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Lock holds label's host-wide lock until the test and its cleanups end. Call it
// before the test registers the cleanups that destroy or sweep the lab, so that those
// run while the lock is still held (cleanups run last-registered first).
func Lock(t testing.TB, label string) {
	t.Helper()
	unlock, err := lock(label, waitLimit, func() { t.Logf("labtest: waiting for another process to finish with lab %s", label) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
}

func lock(label string, limit time.Duration, waiting func()) (func(), error) {
	if !labelRE.MatchString(label) {
		return nil, fmt.Errorf("labtest: label %q must match %s", label, labelRE)
	}
	dir, err := lockDir()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, label+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("labtest: %w", err)
	}
	deadline := time.Now().Add(limit)
	for told := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("labtest: lock %s: %w", label, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("labtest: lab %s still in use by another process after %v", label, limit)
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
