package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrInvalidName: a Disk was given an object name (or a List prefix) that
// does not map to a path inside its root: empty, absolute, with an empty,
// "." or ".." segment, or ending in "/".
var ErrInvalidName = errors.New("invalid object name")

// Disk is a Store on a directory of the local disk: a bucket for local runs
// and tests whose operations cost the same however many objects it holds,
// and which outlives the process.
//
// Layout. Object "runs/x/slices/3/17.pb" is the file
// root/runs/x/slices/3/17.pb# : one directory per name segment, then the
// last segment with a "#" suffix, so that "runs/1" and "runs/1/plan.json"
// can both exist (a file and a directory cannot share a name). Segments are
// escaped: every byte but A-Z a-z 0-9 - _ . (and a leading ".") is written
// %XX, so any name maps to exactly one path and no segment can be "..",
// start with "." or end in "#". The file is one header line
// ("cicada-object 1 <generation> <updated ns> <size> <content type>") then
// the data, so `tail -n +2` shows an object. Disk keeps its own state in
// root/.cicada-disk (temporary files, lock files), which no object name can
// reach, and List ignores every file it did not write.
//
// Cost. Get, Create, Replace, Put and Delete touch only the object's own
// file, a temporary file and a lock file. List(prefix) reads only the
// directory subtree prefix points into: "runs/1/" reads runs/1, and a
// prefix that is not at a "/" boundary, like "runs/1", reads runs and keeps
// the entries that begin with "1" (then "runs/1/" does not match
// "runs/10/": names are compared, not paths). Deleting an object leaves its
// directories, which cost List nothing.
//
// Atomicity. A write is prepared in a temporary file and put in place
// whole: Create with link(2), which fails if the name exists, Replace and
// Put with rename(2). Reads take no lock: they see the old file or the new
// one. Writes and Deletes of a name hold its lock: one of 256 stripes, each
// an in-process semaphore then flock(2) on a lock file, so that the
// generation check of Replace and Delete and the write that follows are
// atomic against other processes on the same root too. (flock is advisory
// and, on NFS, not reliable: use a local filesystem. Outside Unix only the
// in-process lock is taken.)
//
// Generations are microseconds since the epoch, raised past the name's
// current generation and past the last one this Disk gave, so they stay
// under JavaScript's 2^53 like Cloud Storage's and grow with every write of
// a name, across process restarts (the header holds them) and after a
// Delete too, unless the wall clock steps back past them.
//
// Durability: no fsync. A killed process never leaves a partial object,
// since nothing is written in place; a power loss or kernel crash may lose
// the last writes, or leave a file shorter than its header says, which Get
// reports as corrupt rather than return short data. An fsync per object
// would cost milliseconds per write on most disks, for a bucket of local
// runs whose loss costs a rerun.
//
// Versioning. By default an overwritten generation is gone, as in a bucket
// without Object Versioning; SetVersioning keeps them readable
// (OpenGeneration), as a corpus's pinned generation needs.
//
// On a case-insensitive filesystem (macOS by default) names that differ in
// case only are one object; cicada's names are lower case.
//
// A Disk is safe for concurrent use, by goroutines and by processes.
type Disk struct {
	root      string // absolute, cleaned, without a trailing "/" ("" for "/")
	tmp       string // where writes are prepared
	lockPaths [lockStripes]string
	stripes   [lockStripes]chan struct{}
	lastGen   atomic.Int64
	// versioning lists the prefixes SetVersioning leaves out; nil when
	// versioning is off.
	versioning atomic.Pointer[[]string]
}

var _ Store = (*Disk)(nil)

const (
	// metaDir holds Disk's own files. It starts with ".", which no
	// escaped segment does.
	metaDir = ".cicada-disk"
	// objSuffix ends an object's file; escaping never produces it.
	objSuffix = "#"
	// lockStripes is the number of per-name locks: enough that two names
	// rarely share one, few enough to be files kept forever.
	lockStripes = 256
	// staleTemp is the age beyond which NewDisk removes a temporary file,
	// left by a process that died mid-write.
	staleTemp = time.Hour
	// headerMagic begins every object file; the 1 is the layout version.
	headerMagic = "cicada-object 1 "
	// maxHeader bounds a header line, content type included.
	maxHeader = 512
	// maxContentType bounds the content type kept in a header.
	maxContentType = 256
	// formatLine is the content of root/.cicada-disk/format.
	formatLine = "cicada-disk 1\n"
)

// NewDisk returns a Store on the directory root, creating it if needed. An
// existing root keeps its objects: a Disk opened again on it, by this
// process or another, sees them with their generations.
func NewDisk(root string) (*Disk, error) {
	if root == "" {
		return nil, errors.New("disk store: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("disk store %s: %w", root, err)
	}
	d := &Disk{root: strings.TrimSuffix(abs, "/"), tmp: filepath.Join(abs, metaDir, "tmp")}
	locks := filepath.Join(abs, metaDir, "locks")
	for _, dir := range []string{d.tmp, locks} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("disk store %s: %w", root, err)
		}
	}
	if err := d.checkFormat(); err != nil {
		return nil, fmt.Errorf("disk store %s: %w", root, err)
	}
	for i := range lockStripes {
		d.lockPaths[i] = filepath.Join(locks, fmt.Sprintf("%02x", i))
		d.stripes[i] = make(chan struct{}, 1)
	}
	d.removeStaleTemps()
	return d, nil
}

// Root is the directory the objects are in.
func (d *Disk) Root() string {
	if d.root == "" {
		return "/"
	}
	return d.root
}

// checkFormat writes the layout version into a new root and refuses a root
// written in another layout.
func (d *Disk) checkFormat() error {
	path := filepath.Join(d.root, metaDir, "format")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tmp, terr := d.writeTemp(nil, []byte(formatLine))
		if terr != nil {
			return terr
		}
		defer os.Remove(tmp)
		if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		b, err = os.ReadFile(path) // a concurrent NewDisk may have won
	}
	if err != nil {
		return err
	}
	if string(b) != formatLine {
		return fmt.Errorf("%s says %q, want %q: written by another version", path, b, formatLine)
	}
	return nil
}

// removeStaleTemps removes the temporary files of writes that never
// finished. Only old ones: a young one may be another process's write in
// flight. Best effort: a leftover costs disk space only.
func (d *Disk) removeStaleTemps() {
	entries, err := os.ReadDir(d.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(d.tmp, e.Name()))
		}
	}
}

// Get implements Store. It takes no lock: files are only ever put in place
// whole.
func (d *Disk) Get(ctx context.Context, name string) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("get %s: %w", name, err)
	}
	_, file, err := d.path(name)
	if err != nil {
		return Object{}, fmt.Errorf("get %s: %w", name, err)
	}
	b, err := readFile(file)
	if err != nil {
		return Object{}, fmt.Errorf("get %s: %w", name, notFound(err))
	}
	h, n, err := parseHeader(b)
	if err == nil && h.size != int64(len(b)-n) {
		err = fmt.Errorf("%d bytes of data, header says %d", len(b)-n, h.size)
	}
	if err != nil {
		return Object{}, fmt.Errorf("get %s: corrupt object file %s: %w", name, file, err)
	}
	return Object{Name: name, Data: b[n:len(b):len(b)], Generation: h.gen, Updated: time.Unix(0, h.updated)}, nil
}

// Create implements Store with link(2), under the name's lock.
func (d *Disk) Create(ctx context.Context, name string, data []byte, contentType string) (int64, error) {
	gen, err := d.write(ctx, name, opCreate, 0, data, contentType)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", name, err)
	}
	return gen, nil
}

// Replace implements Store: the generation check and the rename(2) that
// follows hold the name's lock.
func (d *Disk) Replace(ctx context.Context, name string, generation int64, data []byte, contentType string) (int64, error) {
	if generation <= 0 {
		return 0, fmt.Errorf("replace %s: generation %d: must be > 0", name, generation)
	}
	gen, err := d.write(ctx, name, opReplace, generation, data, contentType)
	if err != nil {
		return 0, fmt.Errorf("replace %s at generation %d: %w", name, generation, err)
	}
	return gen, nil
}

// Put implements Store. It overwrites a corrupt object file too.
func (d *Disk) Put(ctx context.Context, name string, data []byte, contentType string) (int64, error) {
	gen, err := d.write(ctx, name, opPut, 0, data, contentType)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", name, err)
	}
	return gen, nil
}

// Delete implements Store: the generation check and the unlink(2) that
// follows hold the name's lock. Delete(0) removes a corrupt object file
// too.
func (d *Disk) Delete(ctx context.Context, name string, generation int64) error {
	if generation < 0 {
		return fmt.Errorf("delete %s: generation %d: must be >= 0", name, generation)
	}
	if err := d.delete(ctx, name, generation); err != nil {
		return fmt.Errorf("delete %s at generation %d: %w", name, generation, err)
	}
	return nil
}

func (d *Disk) delete(ctx context.Context, name string, generation int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, file, err := d.path(name)
	if err != nil {
		return err
	}
	unlock, err := d.lock(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	gen, err := readGeneration(file)
	versioned := d.versioned(name)
	if versioned && generation != 0 && (err != nil || gen != generation) {
		// A noncurrent generation is removed for good, as Cloud Storage
		// does.
		if ok, rerr := d.deleteNoncurrent(file, generation); ok || rerr != nil {
			return rerr
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFound(err)
	case err != nil && (generation != 0 || !errors.Is(err, errCorrupt)):
		return err
	case generation != 0 && gen != generation:
		return fmt.Errorf("%w: generation is %d", ErrConflict, gen)
	}
	if versioned && generation == 0 && err == nil {
		// Without a generation the live one becomes noncurrent.
		if err := keepGeneration(file, gen); err != nil {
			return err
		}
	}
	if err := os.Remove(file); err != nil {
		return notFound(err)
	}
	return nil
}

// List implements Store. It reads the directory that prefix's last "/"
// ends (the root if it has none) and the subtrees of its entries that
// match the rest of prefix.
func (d *Disk) List(ctx context.Context, prefix string) ([]string, error) {
	dirPart, rest := "", prefix
	dir := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirPart, rest = prefix[:i+1], prefix[i+1:]
		var err error
		if dir, err = d.dirPath(prefix[:i]); err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
	}
	if dir == "" {
		dir = "/"
	}
	var names []string
	if err := walk(ctx, dir, dirPart, rest, &names); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Strings(names)
	return names, nil
}

// walk appends to names the objects under dir, whose names begin with
// namePrefix, keeping only the entries of dir whose name segment begins
// with filter. Entries Disk did not write are skipped. A missing dir holds
// nothing.
func walk(ctx context.Context, dir, namePrefix, filter string, names *[]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1) // unsorted: the names are sorted once, at the end
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case e.IsDir():
			seg, ok := unescape(n)
			if !ok || !strings.HasPrefix(seg, filter) {
				continue
			}
			if err := walk(ctx, dir+"/"+n, namePrefix+seg+"/", "", names); err != nil {
				return err
			}
		case e.Type().IsRegular():
			base, ok := strings.CutSuffix(n, objSuffix)
			if !ok {
				continue
			}
			seg, ok := unescape(base)
			if ok && strings.HasPrefix(seg, filter) {
				*names = append(*names, namePrefix+seg)
			}
		}
	}
	return nil
}

// writeOp is what write does.
type writeOp int

const (
	opCreate  writeOp = iota // only if absent
	opReplace                // only at the given generation
	opPut                    // whatever is there
)

// write writes name under its lock and returns the new generation.
func (d *Disk) write(ctx context.Context, name string, op writeOp, generation int64, data []byte, contentType string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dir, file, err := d.path(name)
	if err != nil {
		return 0, err
	}
	unlock, err := d.lock(ctx, name)
	if err != nil {
		return 0, err
	}
	defer unlock()

	var prev int64
	switch op {
	case opReplace:
		gen, err := readGeneration(file)
		if err != nil {
			return 0, notFound(err)
		}
		if gen != generation {
			return 0, fmt.Errorf("%w: generation is %d", ErrConflict, gen)
		}
		prev = gen
	case opPut:
		gen, err := readGeneration(file)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errCorrupt) {
			return 0, err
		}
		prev = gen
	}

	h := header{gen: d.nextGen(prev), updated: time.Now().UnixNano(), size: int64(len(data)), contentType: contentType}
	tmp, err := d.writeTemp(appendHeader(make([]byte, 0, maxHeader), h), data)
	if err != nil {
		return 0, err
	}
	if op == opCreate {
		// link(2) fails if the name exists, whoever else writes it.
		err = placeFile(os.Link, tmp, file, dir)
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%w: %w", ErrExists, err)
		}
	} else {
		if prev > 0 && d.versioned(name) {
			if err := keepGeneration(file, prev); err != nil {
				os.Remove(tmp)
				return 0, err
			}
		}
		if err = placeFile(os.Rename, tmp, file, dir); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return 0, err
	}
	return h.gen, nil
}

// placeFile puts tmp at file with place (link or rename), making file's
// directory on the first miss.
func placeFile(place func(oldname, newname string) error, tmp, file, dir string) error {
	err := place(tmp, file)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		err = place(tmp, file)
	}
	return err
}

// tmpSeq numbers temporary files; with the process id it makes their names
// unique across processes (a clash with a dead process's leftover is
// retried).
var tmpSeq atomic.Uint64

// tmpPrefix begins this process's temporary file names.
var tmpPrefix = "/" + strconv.Itoa(os.Getpid()) + "-"

// writeTemp writes head and data into a new temporary file and returns its
// path.
func (d *Disk) writeTemp(head, data []byte) (string, error) {
	for range 100 {
		path := d.tmp + tmpPrefix + strconv.FormatUint(tmpSeq.Add(1), 10)
		err := writeNewFile(path, head, data)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			os.Remove(path)
			return "", err
		}
		return path, nil
	}
	return "", fmt.Errorf("no free temporary file name in %s", d.tmp)
}

// nextGen returns a generation above prev (the name's current one, 0 if
// none) and above every generation this Disk gave before.
func (d *Disk) nextGen(prev int64) int64 {
	for {
		last := d.lastGen.Load()
		g := max(time.Now().UnixMicro(), last+1, prev+1)
		if d.lastGen.CompareAndSwap(last, g) {
			return g
		}
	}
}

// lock takes name's lock: its stripe's semaphore in this process, then the
// stripe's flock(2) against other processes. The returned func releases
// both.
func (d *Disk) lock(ctx context.Context, name string) (func(), error) {
	i := stripe(name)
	select {
	case d.stripes[i] <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release, err := lockFile(ctx, d.lockPaths[i])
	if err != nil {
		<-d.stripes[i]
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() {
		release()
		<-d.stripes[i]
	}, nil
}

// stripe is name's lock stripe: FNV-1a of the name.
func stripe(name string) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % lockStripes)
}

// path returns the directory and the file of object name.
func (d *Disk) path(name string) (dir, file string, err error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	b := make([]byte, 0, len(d.root)+len(name)+16)
	b = append(b, d.root...)
	dirLen := 0
	for seg := range strings.SplitSeq(name, "/") {
		dirLen = len(b)
		b = append(b, '/')
		b = appendEscaped(b, seg)
	}
	b = append(b, objSuffix...)
	file = string(b)
	return file[:dirLen], file, nil
}

// dirPath returns the directory that holds the objects named prefix + "/...".
func (d *Disk) dirPath(prefix string) (string, error) {
	if err := checkName(prefix); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(d.root)+len(prefix)+16)
	b = append(b, d.root...)
	for seg := range strings.SplitSeq(prefix, "/") {
		b = append(b, '/')
		b = appendEscaped(b, seg)
	}
	return string(b), nil
}

// checkName refuses a name that has no path inside the root.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty segment (leading, trailing or double \"/\")", ErrInvalidName, name)
		case ".", "..":
			return fmt.Errorf("%w %q: segment %q", ErrInvalidName, name, seg)
		}
	}
	return nil
}

// safeByte reports whether c stands for itself in a path segment (but for
// a leading ".").
func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends the path segment of name segment seg.
func appendEscaped(b []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if safeByte(c) && (i > 0 || c != '.') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// unescape returns the name segment of path segment s, and false if s is
// not what appendEscaped gives for any segment (so not Disk's).
func unescape(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !safeByte(s[i]) {
				return "", false
			}
		}
		return s, s[0] != '.'
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if !safeByte(c) || (i == 0 && c == '.') {
				return "", false
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		c = byte(hi<<4 | lo)
		if safeByte(c) && (i > 0 || c != '.') {
			return "", false // appendEscaped writes it plain
		}
		b = append(b, c)
		i += 2
	}
	return string(b), true
}

// header is an object file's first line.
type header struct {
	gen         int64
	updated     int64 // Unix nanoseconds
	size        int64 // bytes of data after the header
	contentType string
}

// errCorrupt: an object file that Disk cannot read back.
var errCorrupt = errors.New("corrupt object file")

// appendHeader appends h's line. The content type keeps printable ASCII
// only, so that the line stays one line.
func appendHeader(b []byte, h header) []byte {
	b = append(b, headerMagic...)
	b = strconv.AppendInt(b, h.gen, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, h.updated, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, h.size, 10)
	b = append(b, ' ')
	for i := 0; i < len(h.contentType) && i < maxContentType; i++ {
		if c := h.contentType[i]; ' ' <= c && c <= '~' {
			b = append(b, c)
		}
	}
	return append(b, '\n')
}

// parseHeader reads the header at the start of b and returns it with its
// length.
func parseHeader(b []byte) (header, int, error) {
	var h header
	end := -1
	for i := 0; i < len(b) && i < maxHeader; i++ {
		if b[i] == '\n' {
			end = i
			break
		}
	}
	if end < len(headerMagic) || string(b[:len(headerMagic)]) != headerMagic {
		return h, 0, fmt.Errorf("%w: no header line", errCorrupt)
	}
	line := b[len(headerMagic):end]
	var fields [3]int64
	for f := range fields {
		i := 0
		for i < len(line) && '0' <= line[i] && line[i] <= '9' && i < 19 {
			fields[f] = fields[f]*10 + int64(line[i]-'0')
			i++
		}
		if i == 0 || i >= len(line) || line[i] != ' ' || fields[f] < 0 {
			return h, 0, fmt.Errorf("%w: bad header %q", errCorrupt, b[:end])
		}
		line = line[i+1:]
	}
	// The content type (the rest of the line) is kept for people reading
	// the file; Object has no field for it.
	h.gen, h.updated, h.size = fields[0], fields[1], fields[2]
	if h.gen <= 0 {
		return h, 0, fmt.Errorf("%w: generation %d", errCorrupt, h.gen)
	}
	return h, end + 1, nil
}

// readGeneration reads the generation in file's header.
func readGeneration(file string) (int64, error) {
	var buf [maxHeader]byte
	n, err := readHead(file, buf[:])
	if err != nil {
		return 0, err
	}
	h, _, err := parseHeader(buf[:n])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return h.gen, nil
}

// notFound adds ErrNotFound to a missing file's error.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
