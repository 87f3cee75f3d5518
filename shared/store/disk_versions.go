package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Versioning on a Disk. With SetVersioning, a write that replaces an
// object, or a Delete without generation, keeps the generation it ends as
// a noncurrent file beside the object's: "<segment>#<generation>" (List
// skips it: it does not end in "#"), so that OpenGeneration reads it
// until Delete removes it by its generation, as Cloud Storage does with
// Object Versioning on. Keeping it is one link(2) under the name's lock,
// before the rename that replaces the object.

var _ Versions = (*Disk)(nil)

// SetVersioning turns versioning on for every object whose name begins
// with none of except: objects rewritten often and only ever read at their
// current generation (leases, live views) are better left out, since
// every generation kept is a file. Call it before d is used.
func (d *Disk) SetVersioning(except ...string) {
	e := append([]string{}, except...)
	d.versioning.Store(&e)
}

// versioned reports whether name's overwritten generations are kept.
func (d *Disk) versioned(name string) bool {
	except := d.versioning.Load()
	if except == nil {
		return false
	}
	for _, p := range *except {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

// noncurrentPath is the file that keeps generation gen of the object whose
// file is file.
func noncurrentPath(file string, gen int64) string {
	return file + strconv.FormatInt(gen, 10)
}

// keepGeneration links file, at generation gen, to its noncurrent path,
// under the name's lock. A link already there (a write that failed after
// it) is the same generation.
func keepGeneration(file string, gen int64) error {
	err := os.Link(file, noncurrentPath(file, gen))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keep generation %d: %w", gen, err)
	}
	return nil
}

// deleteNoncurrent removes generation gen of name when it is kept as a
// noncurrent file, and reports whether it was.
func (d *Disk) deleteNoncurrent(file string, gen int64) (bool, error) {
	err := os.Remove(noncurrentPath(file, gen))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// Attrs implements Versions.
func (d *Disk) Attrs(ctx context.Context, name string) (Attrs, error) {
	if err := ctx.Err(); err != nil {
		return Attrs{}, fmt.Errorf("attributes of %s: %w", name, err)
	}
	_, file, err := d.path(name)
	if err != nil {
		return Attrs{}, fmt.Errorf("attributes of %s: %w", name, err)
	}
	var buf [maxHeader]byte
	n, err := readHead(file, buf[:])
	if err != nil {
		return Attrs{}, fmt.Errorf("attributes of %s: %w", name, notFound(err))
	}
	h, _, err := parseHeader(buf[:n])
	if err != nil {
		return Attrs{}, fmt.Errorf("attributes of %s: %s: %w", name, file, err)
	}
	return Attrs{Generation: h.gen, Size: h.size, Updated: time.Unix(0, h.updated)}, nil
}

// OpenGeneration implements Versions: the object's file when it is at
// generation, else the generation's noncurrent file. Files never change
// once in place, so the open file is the generation whatever is written
// meanwhile.
func (d *Disk) OpenGeneration(ctx context.Context, name string, generation int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s generation %d: %w", name, generation, err)
	}
	_, file, err := d.path(name)
	if err != nil {
		return nil, fmt.Errorf("read %s generation %d: %w", name, generation, err)
	}
	r, err := openAt(file, generation)
	if errors.Is(err, errOtherGeneration) || errors.Is(err, fs.ErrNotExist) {
		r, err = openAt(noncurrentPath(file, generation), generation)
		if errors.Is(err, errOtherGeneration) {
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err) // not what its name says: not ours
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s generation %d: %w", name, generation, notFound(err))
	}
	return r, nil
}

// errOtherGeneration: the file holds another generation than asked for.
var errOtherGeneration = errors.New("another generation")

// openAt opens an object file and returns a reader of its data, if the
// file holds generation gen.
func openAt(path string, gen int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var buf [maxHeader]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	h, hlen, err := parseHeader(buf[:n])
	if err == nil && h.gen != gen {
		err = fmt.Errorf("%w: %s is at generation %d", errOtherGeneration, path, h.gen)
	}
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() != int64(hlen)+h.size {
			err = fmt.Errorf("%w: %s: %d bytes of data, header says %d", errCorrupt, path, st.Size()-int64(hlen), h.size)
		}
	}
	if err == nil {
		_, err = f.Seek(int64(hlen), io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, h.size), f}, nil
}
