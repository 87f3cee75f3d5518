package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// These tests set environment variables and the onReady hook, so they do
// not run in parallel.

func TestRealMainServesAndStops(t *testing.T) {
	t.Setenv("CICADA_PREDICT_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("CICADA_PREDICT_GRPC_ADDR", "127.0.0.1:0")
	t.Setenv("CICADA_LOG_CONSOLE", "true")
	type addrs struct{ http, grpc string }
	ready := make(chan addrs, 1)
	onReady = func(h, g string) { ready <- addrs{h, g} }
	t.Cleanup(func() { onReady = nil })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- realMain(ctx) }()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("realMain returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not ready")
	}

	resp, err := http.Get("http://" + a.http + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+a.http+"/v1/predict", "application/json", strings.NewReader(`{"text":"the striker scored twice in the final"}`))
	if err != nil {
		t.Fatalf("POST /v1/predict: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"label":"sports"`) {
		t.Errorf("/v1/predict = %d %q, want 200 sports", resp.StatusCode, body)
	}

	conn, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health = %v, %v; want SERVING", hc.GetStatus(), err)
	}
	pr, err := cicadav1.NewPredictorClient(conn).Predict(ctx, &cicadav1.PredictRequest{Text: "the chipmaker released a faster processor"})
	if err != nil || pr.GetLabel() != "technology" {
		t.Errorf("gRPC Predict = %v, %v; want technology", pr, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("realMain = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("realMain did not return after cancel")
	}
}

func TestRealMainBadConfig(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"ratio out of range", "CICADA_PREDICT_ERROR_RATIO", "2", "ERROR_RATIO"},
		{"not a duration", "CICADA_PREDICT_LATENCY", "soon", "LATENCY"},
		{"bad log flag", "CICADA_LOG_CONSOLE", "maybe", "CICADA_LOG_CONSOLE"},
		{"bad log level", "CICADA_LOG_LEVEL", "loud", "level"},
		{"bad address", "CICADA_PREDICT_HTTP_ADDR", "256.0.0.1:http-nope", "listen http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CICADA_PREDICT_HTTP_ADDR", "127.0.0.1:0")
			t.Setenv("CICADA_PREDICT_GRPC_ADDR", "127.0.0.1:0")
			t.Setenv(tt.key, tt.value)
			err := realMain(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("realMain = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
