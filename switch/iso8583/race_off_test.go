//go:build !race

package iso8583

const raceEnabled = false
