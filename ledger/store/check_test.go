package store_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// TestCheckFindsDamage proves that Check, which every other test trusts,
// is not vacuous: each kind of damage written into Pebble behind the
// store's back makes it fail with ErrCorrupt. The keys and values follow
// the layout documented in keys.go; a history key holds a group of
// (timestamp, transfer ID) entries.
func TestCheckFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, db *pebble.DB)
	}{
		{"an account balance changed", func(t *testing.T, db *pebble.DB) {
			value := get(t, db, recordKey('a', accountA))
			binary.LittleEndian.PutUint64(value[29:37], binary.LittleEndian.Uint64(value[29:37])+1) // debits_posted
			set(t, db, recordKey('a', accountA), value)
		}},
		{"a transfer's status changed", func(t *testing.T, db *pebble.DB) {
			value := get(t, db, recordKey('t', ledger.IDFromUint64(1)))
			value[90] = byte(ledger.StatusVoided)
			set(t, db, recordKey('t', ledger.IDFromUint64(1)), value)
		}},
		{"a transfer record truncated", func(t *testing.T, db *pebble.DB) {
			set(t, db, recordKey('t', ledger.IDFromUint64(1)), []byte{1, 2, 3})
		}},
		{"an expiry entry lost", func(t *testing.T, db *pebble.DB) {
			deleteFirst(t, db, 'x')
		}},
		{"a history entry lost", func(t *testing.T, db *pebble.DB) {
			deleteFirst(t, db, 'h')
		}},
		{"a stray history group", func(t *testing.T, db *pebble.DB) {
			// Well formed: one entry whose timestamp is the key's, naming a
			// transfer that exists but never touched the account at that time.
			key := binary.BigEndian.AppendUint64(recordKey('h', accountB), 1)
			id := ledger.IDFromUint64(1)
			set(t, db, key, append(binary.BigEndian.AppendUint64(nil, 1), id[:]...))
		}},
		{"a history group of the wrong size", func(t *testing.T, db *pebble.DB) {
			key := binary.BigEndian.AppendUint64(recordKey('h', accountB), 1)
			set(t, db, key, []byte{1, 2, 3})
		}},
		{"the stored digest changed", func(t *testing.T, db *pebble.DB) {
			value := get(t, db, []byte{'m'})
			value[16]++ // digest sum
			set(t, db, []byte{'m'}, value)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(store.Options{Dir: dir, NoWAL: true, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			batches := []ledger.Batch{
				{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)},
				{Timestamp: timestampStart + 1e9, Commands: []ledger.Command{
					transfer(1, accountA, accountB, 10),
					pending(2, accountB, accountA, 3, 60),
				}},
			}
			for i := range batches {
				if _, err := s.Apply(uint64(i+1), &batches[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Check(); err != nil {
				t.Fatalf("check before the damage: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			db, err := pebble.Open(dir, store.PebbleOptions(nil))
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = store.Open(store.Options{Dir: dir, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("check after the damage: %v, want ErrCorrupt", err)
			}
		})
	}
}

func recordKey(prefix byte, id ledger.ID) []byte {
	return append([]byte{prefix}, id[:]...)
}

func get(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	value, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), value...)
}

func set(t *testing.T, db *pebble.DB, key, value []byte) {
	t.Helper()
	if err := db.Set(key, value, pebble.Sync); err != nil {
		t.Fatalf("set %q: %v", key, err)
	}
}

// deleteFirst deletes the first key of the table with the given prefix.
func deleteFirst(t *testing.T, db *pebble.DB, prefix byte) {
	t.Helper()
	iter, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !iter.First() {
		_ = iter.Close()
		t.Fatalf("table %c is empty", prefix)
	}
	key := append([]byte(nil), iter.Key()...)
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(key, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}
