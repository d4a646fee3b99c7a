//go:build !linux

package store

import "github.com/cockroachdb/pebble/v2"

// backgroundListener leaves Pebble's jobs at the process's priority where
// threads have no priority of their own to lower (see
// background_linux.go).
func backgroundListener() *pebble.EventListener { return nil }
