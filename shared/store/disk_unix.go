//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"context"
	"os"
	"syscall"
	"time"
)

// The files of a Disk are read and written with plain system calls: an
// *os.File of a regular file costs three more calls (Go offers it to the
// network poller, which refuses it), which would be a third of a Get.

// lockFile takes flock(2) on path, polling while another process holds it
// so that ctx can end the wait. The returned func releases it (closing the
// descriptor does).
func lockFile(ctx context.Context, path string) (func(), error) {
	fd, err := open(path, syscall.O_RDWR|syscall.O_CREAT, 0o644)
	if err != nil {
		return nil, err
	}
	wait := 50 * time.Microsecond
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Close(fd) }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			syscall.Close(fd)
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			syscall.Close(fd)
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Millisecond)
	}
}

// readFile returns the content of path.
func readFile(path string) ([]byte, error) {
	fd, err := open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	// Object files never change once in place (writes replace them
	// whole), so the size stands and one read usually does.
	b := make([]byte, st.Size)
	n := 0
	for n < len(b) {
		m, err := read(fd, b[n:])
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return b[:n], nil
}

// readHead reads the start of path into buf and returns how much it read.
func readHead(path string, buf []byte) (int, error) {
	fd, err := open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := read(fd, buf[n:])
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// writeNewFile writes head then data into path, which must not exist.
func writeNewFile(path string, head, data []byte) error {
	fd, err := open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, b := range [][]byte{head, data} {
		for len(b) > 0 {
			n, err := syscall.Write(fd, b)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				syscall.Close(fd)
				return &os.PathError{Op: "write", Path: path, Err: err}
			}
			b = b[n:]
		}
	}
	if err := syscall.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

func open(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, perm)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

func read(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
