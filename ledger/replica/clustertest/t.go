package clustertest

// T is what the harness needs of its caller: the part of testing.TB it
// uses, so that a benchmark command can drive a cluster too (bench
// failover) without importing the testing package into the binary.
// testing.TB satisfies it.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	ArtifactDir() string
	Failed() bool
}
