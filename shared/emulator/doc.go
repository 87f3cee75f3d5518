// Package emulator starts the real stand-ins of Google Cloud as processes of
// their own, for tests and for `make cluster-up`: the Pub/Sub emulator that
// ships with the Google Cloud CLI, and fake-gcs-server. Each is bound to
// 127.0.0.1, and stopped by its process group, so that the emulator's Java
// process goes too.
//
// Tests call them through Require*, which skips the test when the program is
// missing, except in CI (CI=true), where a missing emulator is a failure.
package emulator
