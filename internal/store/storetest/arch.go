package storetest

import "runtime"

func goarch() string { return runtime.GOARCH }
