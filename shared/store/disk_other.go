//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"context"
	"errors"
	"io"
	"os"
)

// lockFile takes no lock where flock(2) is missing: a Disk there is safe
// within one process only.
func lockFile(context.Context, string) (func(), error) {
	return func() {}, nil
}

// readFile returns the content of path.
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// readHead reads the start of path into buf and returns how much it read.
func readHead(path string, buf []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// writeNewFile writes head then data into path, which must not exist.
func writeNewFile(path string, head, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
