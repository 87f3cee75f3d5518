package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

const (
	targetCPU    = "0"
	generatorCPU = "1"
)

// target is the predict service under load, running pinned to targetCPU.
type target struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been waited for
	scheme   string        // of its REST endpoint: http, or https over TLS
	httpAddr string
	grpcAddr string
	logPath  string
	client   *http.Client
}

// targetTLS is what a target serves over TLS: its certificate and key
// files, and the CA a client trusts.
type targetTLS struct {
	certFile, keyFile string
	roots             *x509.CertPool
}

// startTarget starts the predict binary exe on two free loopback ports,
// over TLS when tlsc is set, logging to work/name.log, and waits until GET
// /healthz answers 200.
func startTarget(ctx context.Context, exe, work, name string, tlsc *targetTLS) (*target, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	t := &target{
		scheme:   "http",
		httpAddr: httpAddr, grpcAddr: grpcAddr,
		logPath: filepath.Join(work, name+".log"),
		exited:  make(chan struct{}),
		client:  &http.Client{Timeout: time.Second},
	}
	env := []string{
		"CICADA_PREDICT_HTTP_ADDR=" + httpAddr,
		"CICADA_PREDICT_GRPC_ADDR=" + grpcAddr,
		"CICADA_LOG_LEVEL=warn"}
	if tlsc != nil {
		t.scheme = "https"
		t.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsc.roots, MinVersion: tls.VersionTLS12}}
		env = append(env, "CICADA_PREDICT_TLS_CERT="+tlsc.certFile, "CICADA_PREDICT_TLS_KEY="+tlsc.keyFile)
	}
	logf, err := os.Create(t.logPath)
	if err != nil {
		return nil, fmt.Errorf("create target log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	t.cmd = exec.Command("taskset", "-c", targetCPU, exe)
	t.cmd.Env = append(os.Environ(), env...)
	t.cmd.Stdout, t.cmd.Stderr = logf, logf
	// Its own process group: a terminal's Ctrl-C reaches only us, and we stop it.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start predict: %w", err)
	}
	go func() {
		_ = t.cmd.Wait() // the exit status of a killed target says nothing
		close(t.exited)
	}()
	if err := t.waitHealthy(ctx, 15*time.Second); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

func (t *target) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := t.healthy(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(t.logPath)
			return fmt.Errorf("predict not healthy after %v: %w (log: %s)", limit, err, lastLines(log, 3))
		}
		select {
		case <-t.exited:
			log, _ := os.ReadFile(t.logPath)
			return fmt.Errorf("predict exited: %s", lastLines(log, 3))
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy checks that the target process runs and answers GET /healthz 200.
func (t *target) healthy(ctx context.Context) error {
	select {
	case <-t.exited:
		return errors.New("target exited")
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.scheme+"://"+t.httpAddr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: status %d", resp.StatusCode)
	}
	return nil
}

// stop ends the target by its process group: SIGTERM, then SIGKILL after 5s.
func (t *target) stop() {
	t.client.CloseIdleConnections()
	pgid := t.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM) // fails only if it is already gone
	select {
	case <-t.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-t.exited
}

// freeAddr asks the kernel for a free loopback port. Another process could
// take it before the target binds it; the target would then fail to start
// with a clear error.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}
