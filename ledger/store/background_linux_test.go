package store

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// threadNice reads the calling thread's nice value from /proc (field 19
// of its stat line), independently of getpriority's encoding. It may run
// off the test's goroutine, so it reports a failure with Error, as -100.
func threadNice(t *testing.T) int {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Error(err)
		return -100
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	n, err := strconv.Atoi(fields[16]) // field 19 of the whole line
	if err != nil {
		t.Error(err)
		return -100
	}
	return n
}

func TestLowerThreadPriority(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the whole check on one thread
		defer runtime.UnlockOSThread()
		before := threadNice(t)
		restore := lowerThreadPriority()
		if got, want := threadNice(t), min(before+backgroundNice, 19); got != want {
			t.Errorf("nice %d while lowered, want %d", got, want)
		}
		restore()
		if os.Geteuid() == 0 {
			if got := threadNice(t); got != before {
				t.Errorf("nice %d after restore, want %d", got, before)
			}
		}
	}()
	<-done
}

// TestFlushRunsLowered: the store's Pebble options lower the thread of a
// flush for the flush.
func TestFlushRunsLowered(t *testing.T) {
	base := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		base <- threadNice(t)
	}()
	normal := <-base
	opts := PebbleOptions(vfs.NewMem())
	during := make(chan int, 1)
	probe := pebble.EventListener{FlushBegin: func(pebble.FlushInfo) {
		select {
		case during <- threadNice(t):
		default:
		}
	}}
	tee := pebble.TeeEventListener(*opts.EventListener, probe)
	opts.EventListener = &tee
	db, err := pebble.Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Set([]byte("k"), []byte("v"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := <-during, min(normal+backgroundNice, 19); got != want {
		t.Fatalf("the flush ran at nice %d, want %d", got, want)
	}
}

// TestStartWriteback: on a file with a descriptor the kernel takes the
// range (and refuses a negative offset, which shows the call is made); a
// file without one is left alone.
func TestStartWriteback(t *testing.T) {
	f, err := vfs.Default.Create(t.TempDir()+"/000001.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if err := startWriteback(f, 0, 256<<10); err != nil {
		t.Fatalf("writeback of the written range: %v", err)
	}
	if err := startWriteback(f, -1, 10); err == nil {
		t.Fatal("a negative offset was accepted: no sync_file_range was made")
	}
	m, err := vfs.NewMem().Create("000002.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := startWriteback(m, 0, 10); err != nil {
		t.Fatalf("in-memory file: %v", err)
	}
}
