//go:build !linux

package bench

func peakRSSMB() float64 { return 0 }
