//go:build unix

package replica

import (
	"io/fs"
	"syscall"
)

// linkCount is the number of names info's file has, or 0 when the file
// system does not say.
func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
