package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// proc is a process this cluster started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
}

// start starts bin as a detached process: leader of a new session (and so
// of its own process group, which Down signals as a whole), stdin from
// /dev/null, stdout and stderr appended to logPath, and the environment of
// this process plus env (later entries win). It writes the PID to pidPath.
func start(name, bin string, args, env []string, dir, logPath, pidPath string) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// The child has its own copy of the descriptor: ours is closed at once,
	// so nothing of this process stays between the child and its log.
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A new session: a Ctrl-C or a closed terminal of `make cluster-up`
	// does not reach the cluster, which outlives the command that started
	// it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	// Reap it while this process lives (tests); once it exits, init does.
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = stopGroups(filepath.Dir(pidPath), []int{cmd.Process.Pid}, 0)
		return nil, fmt.Errorf("start %s: write pid file: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return !alive(p.cmd.Process.Pid)
	}
}

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

// procStat returns the state and process group of pid from
// /proc/<pid>/stat; ok is false when there is no such process.
func procStat(pid int) (state string, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// The command is in parentheses and may hold spaces: the fields after
	// the last ')' are state ppid pgrp ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[0], pgrp, true
}

// alive reports whether pid is a live process. A zombie is dead: an
// orphan is reaped by PID 1, which in a container may never do it.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// groupMembers returns the live processes of process group pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, ok := procStat(pid)
		if ok && pgrp == pgid && state != "Z" && state != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// GroupAlive reports whether process group pgid (a cluster process's PID)
// still has a live member, zombies aside.
func GroupAlive(pgid int) bool { return len(groupMembers(pgid)) > 0 }

// marked reports whether pid's environment holds MarkerEnv=dir.
func marked(pid int, dir string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte(MarkerEnv + "=" + dir)
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// ours returns the live members of process group pgid when at least one of
// them was started by the cluster in dir, else nil.
func ours(pgid int, dir string) []int {
	members := groupMembers(pgid)
	for _, pid := range members {
		if marked(pid, dir) {
			return members
		}
	}
	return nil
}

// stopGroups ends the process groups pgids started by the cluster in dir:
// SIGTERM to each at once, then SIGKILL to what is left after grace (0:
// at once). It returns once every group is empty, or an error naming those
// that are not.
func stopGroups(dir string, pgids []int, grace time.Duration) error {
	var live []int
	for _, g := range pgids {
		if ours(g, dir) == nil {
			continue // gone, or the PID now belongs to someone else
		}
		sig := syscall.SIGTERM
		if grace == 0 {
			sig = syscall.SIGKILL
		}
		if err := syscall.Kill(-g, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal process group %d: %w", g, err)
		}
		live = append(live, g)
	}
	waitGroups := func(d time.Duration) []int {
		deadline := time.Now().Add(d)
		for {
			var left []int
			for _, g := range live {
				if len(groupMembers(g)) > 0 {
					left = append(left, g)
				}
			}
			if len(left) == 0 || !time.Now().Before(deadline) {
				return left
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	left := waitGroups(grace)
	if len(left) == 0 {
		return nil
	}
	for _, g := range left {
		if err := syscall.Kill(-g, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill process group %d: %w", g, err)
		}
	}
	live = left
	if left = waitGroups(5 * time.Second); len(left) > 0 {
		return fmt.Errorf("process groups %v still alive after SIGKILL", left)
	}
	return nil
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
		pid, err := readPID(filepath.Join(abs, n+".pid"))
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
		files = append(files, filepath.Join(abs, n+".pid"))
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
		pid, err := readPID(filepath.Join(abs, n+".pid"))
		if err != nil {
			return nil, fmt.Errorf("cluster status: %w", err)
		}
		out = append(out, ProcStatus{Name: n, PID: pid, Alive: ours(pid, abs) != nil, Log: filepath.Join(abs, "logs", n+".log")})
	}
	return out, nil
}
