//go:build !unix

package replica

import "io/fs"

// linkCount is 0 (unknown) where the file system does not report links:
// shrinkGradually then leaves files whole.
func linkCount(fs.FileInfo) uint64 { return 0 }
