package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// joined returns the problems Validate joined under ErrOptions.
func joined(err error) []error {
	outer, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	for _, e := range outer.Unwrap() {
		if inner, ok := e.(interface{ Unwrap() []error }); ok {
			return inner.Unwrap()
		}
	}
	return nil
}

func TestOptionsValidate(t *testing.T) {
	accountsMin := 2 * ledger.BatchCommandsMax
	for _, tc := range []struct {
		name    string
		options store.Options
		fields  []string // the field each reported problem names, in order
	}{
		{"valid at the minimums", store.Options{Dir: "d", AccountCacheMax: accountsMin, FilterBytes: 1 << 10}, nil},
		{"valid at the maximums", store.Options{Dir: "d", AccountCacheMax: accountsMin, PendingCacheMax: 1, FilterBytes: 1 << 30}, nil},
		{"zero value: defaults are Open's job", store.Options{}, []string{"Dir", "AccountCacheMax", "FilterBytes"}},
		{"filter too large", store.Options{Dir: "d", AccountCacheMax: accountsMin, FilterBytes: 1<<30 + 1}, []string{"FilterBytes"}},
		{"account cache one short", store.Options{Dir: "d", AccountCacheMax: accountsMin - 1, FilterBytes: 1 << 10}, []string{"AccountCacheMax"}},
		{"everything wrong", store.Options{AccountCacheMax: 5, PendingCacheMax: -1, FilterBytes: 1023},
			[]string{"Dir", "AccountCacheMax", "PendingCacheMax", "FilterBytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.options.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrOptions) {
				t.Fatalf("Validate: %v, want ErrOptions", err)
			}
			problems := joined(err)
			if len(problems) != len(tc.fields) {
				t.Fatalf("Validate reported %d problems, want %d (%v): %v", len(problems), len(tc.fields), tc.fields, err)
			}
			for i, field := range tc.fields {
				if !strings.Contains(problems[i].Error(), field) {
					t.Errorf("problem %d is %q, want it to name %s", i, problems[i], field)
				}
			}
		})
	}
}

// TestOpenOptions checks that Open fills the defaults before it validates,
// and that options it refuses leave nothing on disk.
func TestOpenOptions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	_, err := store.Open(store.Options{Dir: dir, FilterBytes: 1, PendingCacheMax: -1, Logger: quiet})
	if !errors.Is(err, store.ErrOptions) || len(joined(err)) != 2 {
		t.Fatalf("Open with two bad options: %v, want ErrOptions with two problems", err)
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("Open with bad options created %s (%v)", dir, statErr)
	}
	s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("Open with defaults: %v", err)
	}
	if s.AppliedIndex() != 0 || s.Digest() != (ledger.Digest{}) {
		t.Errorf("a new store is at index %d with digest %s, want 0 and zero", s.AppliedIndex(), s.Digest())
	}
	if err := s.Check(); err != nil {
		t.Errorf("check of an empty store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
