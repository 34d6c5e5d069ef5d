package labtest

import (
	"strings"
	"testing"
	"time"
)

// TestLockExcludes: while one holder has a label, a second lock of it (another open
// file, as another process would have) waits and gives up at its limit; after the
// holder's test ends, the label is free again; other labels are never blocked.
func TestLockExcludes(t *testing.T) {
	label := "tfx-labtest-excl"
	t.Run("holder", func(t *testing.T) {
		Lock(t, label)
		waited := false
		if _, err := lock(label, 300*time.Millisecond, func() { waited = true }); err == nil || !strings.Contains(err.Error(), "still in use") {
			t.Fatalf("second lock while held: err = %v, want still in use", err)
		}
		if !waited {
			t.Fatal("second lock did not report waiting")
		}
		unlock, err := lock("tfx-labtest-other", time.Second, nil)
		if err != nil {
			t.Fatalf("another label: %v", err)
		}
		unlock()
	})
	unlock, err := lock(label, time.Second, nil)
	if err != nil {
		t.Fatalf("after the holder's cleanup: %v", err)
	}
	unlock()
}

// TestLockWaitsForRelease: a waiter gets the label as soon as the holder lets go.
func TestLockWaitsForRelease(t *testing.T) {
	label := "tfx-labtest-wait"
	release, err := lock(label, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(400 * time.Millisecond); release() }()
	start := time.Now()
	unlock, err := lock(label, 10*time.Second, nil)
	if err != nil {
		t.Fatalf("waiter: %v", err)
	}
	unlock()
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("waiter got the label while it was held")
	}
}

func TestLockRejectsBadLabels(t *testing.T) {
	for _, l := range []string{"", "../x", "A", "a/b", "a\x00b", strings.Repeat("a", 41)} {
		if _, err := lock(l, time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "must match") {
			t.Errorf("label %q: err = %v", l, err)
		}
	}
}
