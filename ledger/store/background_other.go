//go:build !linux

package store

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// backgroundListener leaves Pebble's jobs at the process's priority where
// threads have no priority of their own to lower (see
// background_linux.go).
func backgroundListener() *pebble.EventListener { return nil }

// startWriteback leaves a table's writeback to its final sync where
// there is no sync_file_range (see background_linux.go).
func startWriteback(vfs.File, int64, int64) error { return nil }
