// Package testkit holds what the tests of several packages share: a TCP
// proxy that delays, drops or cuts an etcd endpoint's traffic, and
// in-memory fakes of the stores chat asks its front ends for (the outbox,
// read marks). Only _test files import it (TestLayout checks).
package testkit
