package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/proc"
)

// MarkerEnv is set in the environment of every process a cluster starts,
// to the cluster's directory. Down signals a process group only when one of
// its live members carries it, so that a PID file left over after a reboot
// can never make it kill a process that merely reuses the PID.
const MarkerEnv = "CICADA_CLUSTER_DIR"

// stopGrace is how long Down lets a process group shut down after SIGTERM
// before it sends SIGKILL. A worker's graceful stop finishes its current
// slice (10 s by default) first.
const stopGrace = 15 * time.Second

// emulators are stopped last: the others need them to shut down gracefully
// (a worker writes its current slice and releases its lease).
var emulators = []string{NamePubSub, NameGCS}

// start starts s as a process of the cluster in dir, leader of a process
// group of its own (which Down signals as a whole), carrying MarkerEnv,
// and writes its PID to dir/<name>.pid.
func start(dir, name string, s proc.Spec) (*proc.Proc, error) {
	// Nobody overrides the marker: it comes last.
	s.Env = append(slices.Clip(s.Env), MarkerEnv+"="+dir)
	p, err := proc.Start(s)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.WriteFile(pidPath(dir, name), []byte(strconv.Itoa(p.PID())+"\n"), 0o644); err != nil {
		_ = proc.StopGroups([]int{p.PID()}, 0)
		return nil, fmt.Errorf("start %s: write pid file: %w", name, err)
	}
	return p, nil
}

// pidPath is the PID file of process name of the cluster in dir.
func pidPath(dir, name string) string { return filepath.Join(dir, name+".pid") }

// readPID reads a PID file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pid file %s: %q is not a process id", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

// pidFiles returns the names (without .pid) of the PID files in dir,
// sorted.
func pidFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".pid"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// ours returns the live members of process group pgid when at least one of
// them was started by the cluster in dir, else nil.
func ours(pgid int, dir string) []int {
	members := proc.Members(pgid)
	for _, pid := range members {
		if proc.HasEnv(pid, MarkerEnv+"="+dir) {
			return members
		}
	}
	return nil
}

// stopGroups ends the process groups pgids started by the cluster in dir
// (proc.StopGroups); a group that is gone, or now someone else's, is left
// alone.
func stopGroups(dir string, pgids []int, grace time.Duration) error {
	var mine []int
	for _, g := range pgids {
		if ours(g, dir) != nil {
			mine = append(mine, g)
		}
	}
	return proc.StopGroups(mine, grace)
}

// Down stops every process of the cluster in dir: each process group whose
// PID file is in dir, if it is still the cluster's (see MarkerEnv). The
// components go first, with SIGTERM so that workers hand their shards
// back, then the emulators (the Pub/Sub emulator's Java process with its
// gcloud wrapper: they share the group); whatever is left after a bound
// gets SIGKILL. The PID files and the env file are removed. A directory without PID files
// is not an error.
func Down(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cluster down: %w", err)
	}
	names, err := pidFiles(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster down: %w", err)
	}
	var first, last []int
	var errs []error
	for _, n := range names {
		pid, err := readPID(pidPath(abs, n))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.Contains(emulators, n) {
			last = append(last, pid)
		} else {
			first = append(first, pid)
		}
	}
	if err := stopGroups(abs, first, stopGrace); err != nil {
		errs = append(errs, err)
	}
	if err := stopGroups(abs, last, stopGrace); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster down in %s: %w", abs, errors.Join(errs...))
	}
	// The env file goes too: it would point a shell at nothing.
	files := []string{filepath.Join(abs, "env")}
	for _, n := range names {
		files = append(files, pidPath(abs, n))
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster down in %s: %w", abs, errors.Join(errs...))
	}
	return nil
}

// ProcStatus is one process of a cluster as its PID file tells it.
type ProcStatus struct {
	Name string
	PID  int
	// Alive: the process group still has a live member started by this
	// cluster.
	Alive bool
	Log   string
}

// Status lists the processes of the cluster in dir, from its PID files.
func Status(dir string) ([]ProcStatus, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster status: %w", err)
	}
	names, err := pidFiles(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster status: %w", err)
	}
	var out []ProcStatus
	for _, n := range names {
		pid, err := readPID(pidPath(abs, n))
		if err != nil {
			return nil, fmt.Errorf("cluster status: %w", err)
		}
		out = append(out, ProcStatus{Name: n, PID: pid, Alive: ours(pid, abs) != nil, Log: filepath.Join(abs, "logs", n+".log")})
	}
	return out, nil
}
