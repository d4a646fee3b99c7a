//go:build !linux

package clustertest

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
