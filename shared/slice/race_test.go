//go:build race

package slice

// raceEnabled scales heavy tests down under the race detector, which slows
// histogram code about tenfold.
const raceEnabled = true
