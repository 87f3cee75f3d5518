//go:build race

package inprocess

// raceDetector is whether the tests run with the race detector, which
// slows the generator and the in-process target several times over.
const raceDetector = true
