//go:build !race

package pipeline

// raceDetector is whether the tests run with the race detector, which
// slows the generator several times over.
const raceDetector = false
