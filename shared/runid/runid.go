// Package runid makes run ids: sortable by start time, unique without
// coordination, and safe as a path segment in the bucket.
package runid

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// New returns an id like "20261127-040512-3f9a1c": UTC time of creation to
// the second, then 24 random bits, so ids sort by time and two runs started
// in the same second still differ.
func New(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

var pattern = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$`)

// Valid reports whether id has the shape New gives, so that an id taken from
// a URL can be used in an object name safely.
func Valid(id string) error {
	if !pattern.MatchString(id) {
		return fmt.Errorf("run id %q: want the form 20261127-040512-3f9a1c", id)
	}
	return nil
}
