package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfileFlags: --cpuprofile and --memprofile each leave a profile
// (pprof's gzipped protocol buffers) once the command ends, and a heap
// profile that cannot be written fails the command before it starts.
func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	out, err := runRoot("--cpuprofile", cpu, "--memprofile", mem, "check", filepath.Join(dir, "ledger"))
	if err != nil || !strings.HasPrefix(out, "ok: applied index 0") {
		t.Fatalf("check with profiles: %v, %q", err, out)
	}
	for _, name := range []string{cpu, mem} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		n, err := io.Copy(io.Discard, z)
		f.Close()
		if err != nil || n == 0 {
			t.Fatalf("%s: %d bytes after gunzip, %v", filepath.Base(name), n, err)
		}
	}

	other := filepath.Join(dir, "other")
	_, err = runRoot("--memprofile", filepath.Join(dir, "no-such-dir", "mem.prof"), "check", other)
	if err == nil || !strings.Contains(err.Error(), "no-such-dir") {
		t.Fatalf("a heap profile that cannot be written: %v, want an error naming its path", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("the command ran before its heap profile's path was found unwritable (stat: %v)", err)
	}
}
