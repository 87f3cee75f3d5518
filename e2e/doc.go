// Package e2e holds the end-to-end tests of cicada as separate processes on
// the real emulators (internal/devenv/cluster): a plan posted to the trigger over
// HTTP, a worker killed in mid-run, and the report checked against the
// slice objects and the target's own request count; the Pub/Sub emulator
// restarted in mid-run, and the next run completing. They skip where the
// Google Cloud CLI is missing, except in CI (CI=true), and under -short.
package e2e
