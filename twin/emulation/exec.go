package emulation

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// runCmd runs name args with stdin (the child is killed if this process dies, so that a
// killed deploy cannot leave an `ip -batch` creating namespaces behind the sweep), returning stdout; a failure wraps ErrCommand and
// quotes the command and its stderr.
func runCmd(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%w: %s %s: %v: %s", ErrCommand, name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// batch runs `<tool> [-n ns] -batch -` over lines. iproute2 stops at the first failing
// line and names it ("Command failed -:N"); the error quotes that line.
func batch(ctx context.Context, tool, ns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	args := []string{}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "-batch", "-")
	_, err := runCmd(ctx, joinLines(lines), tool, args...)
	if err != nil {
		var n int
		msg := err.Error()
		if i := strings.Index(msg, "Command failed -:"); i >= 0 {
			if _, serr := fmt.Sscanf(msg[i:], "Command failed -:%d", &n); serr == nil && n >= 1 && n <= len(lines) {
				return fmt.Errorf("%w (line %d: %q)", err, n, lines[n-1])
			}
		}
		return err
	}
	return nil
}
