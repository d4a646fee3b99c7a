package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// runT lets a benchmark command drive the clustertest harness, which was
// written for tests: it implements clustertest.T with a temporary
// directory, cleanups run at the end, and a fatal error that unwinds the
// benchmark's goroutine (as testing's FailNow does) and is returned by run.
type runT struct {
	dir      string
	progress func(string)

	mu       sync.Mutex
	cleanups []func()
	failed   error
}

// errRunAborted unwinds the goroutine of a failed run.
var errRunAborted = errors.New("bench: run aborted")

func newRunT(progress func(string)) (*runT, error) {
	dir, err := os.MkdirTemp("", "payswitch-bench-")
	if err != nil {
		return nil, err
	}
	return &runT{dir: dir, progress: progress}, nil
}

// run calls fn and turns a Fatal inside it into an error.
func (t *runT) run(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != errRunAborted { //nolint:errorlint // the sentinel itself is the panic value
				panic(r)
			}
			err = t.err()
		}
	}()
	fn()
	return t.err()
}

func (t *runT) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *runT) fail(err error) {
	t.mu.Lock()
	if t.failed == nil {
		t.failed = err
	}
	t.mu.Unlock()
}

// cleanup runs the registered cleanups, newest first, then removes the
// directory.
func (t *runT) cleanup() {
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	_ = os.RemoveAll(t.dir)
}

func (t *runT) Helper() {}
func (t *runT) Fatal(args ...any) {
	t.fail(errors.New(fmt.Sprint(args...)))
	panic(errRunAborted)
}
func (t *runT) Fatalf(format string, args ...any) {
	t.fail(fmt.Errorf(format, args...))
	panic(errRunAborted)
}
func (t *runT) Errorf(format string, args ...any) { t.fail(fmt.Errorf(format, args...)) }
func (t *runT) Logf(format string, args ...any)   {}
func (t *runT) Cleanup(fn func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, fn)
	t.mu.Unlock()
}
func (t *runT) TempDir() string     { return t.dir }
func (t *runT) ArtifactDir() string { return t.dir }
func (t *runT) Failed() bool        { return t.err() != nil }
