package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// servingPrefix starts the line `payswitch serve` prints on stdout once it
// serves: "serving node=<id> raft=<addr> http=<addr> iso8583=<addr>".
const servingPrefix = "serving node="

// process is one run of a node's binary, from start until it is reaped.
type process struct {
	cmd     *exec.Cmd
	serving chan struct{} // closed when the serving line was seen
	done    chan struct{} // closed when the process was reaped
	err     error         // what Wait returned; read after done
}

// startProcess starts bin with args, appending stdout and stderr to the
// two files. The caller waits for serving or done.
func startProcess(bin string, args []string, stdoutPath, stderrPath, nodeID string) (*process, error) {
	const flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	stdout, err := os.OpenFile(stdoutPath, flags, 0o644)
	if err != nil {
		return nil, err
	}
	stderr, err := os.OpenFile(stderrPath, flags, 0o644)
	if err != nil {
		_ = stdout.Close()
		return nil, err
	}
	stamp := fmt.Sprintf("=== clustertest: start %s at %s: %s %q\n", nodeID, time.Now().Format(time.RFC3339Nano), bin, args)
	_, _ = stdout.WriteString(stamp)
	_, _ = stderr.WriteString(stamp)
	p := &process{serving: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = &lineWatcher{out: stdout, prefix: servingPrefix + nodeID + " ", found: p.serving}
	p.cmd.Stderr = stderr
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		_ = stdout.Close()
		_ = stderr.Close()
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = stdout.Close()
		_ = stderr.Close()
		close(p.done)
	}()
	return p, nil
}

// waitServing waits for the serving line, the process's exit or ctx.
func (p *process) waitServing(ctx context.Context) error {
	select {
	case <-p.serving:
		return nil
	case <-p.done:
		return fmt.Errorf("exited before serving: %v", p.err)
	case <-ctx.Done():
		return fmt.Errorf("no serving line: %w", ctx.Err())
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *process) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(exitWaitMax):
		return fmt.Errorf("pid %d not reaped %v after SIGKILL", p.cmd.Process.Pid, exitWaitMax)
	}
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// lineWatcher copies a child's stdout to a file and closes found on the
// first line that starts with prefix. exec runs Write from one goroutine.
type lineWatcher struct {
	out    io.Writer
	prefix string
	found  chan struct{}
	line   []byte // the current partial line, until found
	once   sync.Once
}

// lineBytesMax bounds the partial line kept while looking for the prefix.
const lineBytesMax = 4 << 10

func (w *lineWatcher) Write(b []byte) (int, error) {
	n, err := w.out.Write(b)
	if w.line == nil && w.isFound() {
		return n, err
	}
	for _, c := range b {
		if c != '\n' {
			if len(w.line) < lineBytesMax {
				w.line = append(w.line, c)
			}
			continue
		}
		if bytes.HasPrefix(w.line, []byte(w.prefix)) {
			w.once.Do(func() { close(w.found) })
			w.line = nil
			return n, err
		}
		w.line = w.line[:0]
	}
	return n, err
}

func (w *lineWatcher) isFound() bool {
	select {
	case <-w.found:
		return true
	default:
		return false
	}
}
