package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// binaryPackage is built once per test process.
const binaryPackage = "github.com/payswitch/payswitch/cmd/payswitch"

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BuildBinary builds the payswitch binary into a temporary directory the
// first time it is called in this process and returns its path; later
// calls return the same path (or the same build failure). Call
// RemoveBinary from TestMain to delete it. PAYSWITCH_TEST_BINARY, when
// set, names a binary to use instead.
func BuildBinary(tb T) string {
	tb.Helper()
	build.once.Do(func() {
		build.path, build.err = buildBinary()
	})
	if build.err != nil {
		tb.Fatalf("clustertest: %v", build.err)
	}
	return build.path
}

// binaryEnv names a prebuilt binary to use instead of building one (a
// release build, or a binary built with other tags).
const binaryEnv = "PAYSWITCH_TEST_BINARY"

func buildBinary() (string, error) {
	if path := os.Getenv(binaryEnv); path != "" {
		return path, nil
	}
	dir, err := os.MkdirTemp("", "payswitch-clustertest-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	path := filepath.Join(dir, "payswitch")
	ctx, cancel := context.WithTimeout(context.Background(), buildWaitMax)
	defer cancel()
	// The package path resolves from any directory inside the module, which
	// is where `go test` runs a test binary.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, binaryPackage)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", binaryPackage, err, out.Bytes())
	}
	return path, nil
}

// RemoveBinary deletes what BuildBinary built. It is meant for TestMain,
// after m.Run.
func RemoveBinary() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

var serveFlags sync.Map // "--flag=value" → bool

// ServeSupports reports whether `payswitch serve` accepts the flag with
// the value, hidden flags included, for tests that use an optional flag
// when the binary has it: `serve --flag=value --help` fails on a flag it
// does not know.
func ServeSupports(tb T, flag, value string) bool {
	tb.Helper()
	bin := BuildBinary(tb)
	arg := flag + "=" + value
	if known, ok := serveFlags.Load(arg); ok {
		return known.(bool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), serveLineWaitMax)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", arg, "--help").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("clustertest: payswitch serve %s --help: %v\n%s", arg, err, out)
	}
	serveFlags.Store(arg, err == nil)
	return err == nil
}
