package worker

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{
			name: "zero: host and PID as the ID",
			want: Config{ID: fmt.Sprintf("%s-%d", host, os.Getpid()), Capacity: 1, MaxShards: 4, CPUBound: 0.6, LeaseTTL: 6 * time.Second, RenewEvery: 2 * time.Second,
				HandOverLead: 2 * time.Second, StopGrace: 15 * time.Second, Warmup: 500 * time.Millisecond, AckExtend: time.Minute},
		},
		{
			name: "set: kept",
			in: Config{ID: "w", Capacity: 3, MaxShards: 5, CPUBound: 0.8, LeaseTTL: 8 * time.Second, RenewEvery: 2 * time.Second,
				HandOverLead: time.Second, StopGrace: 30 * time.Second, Warmup: time.Second, AckExtend: 5 * time.Second},
			want: Config{ID: "w", Capacity: 3, MaxShards: 5, CPUBound: 0.8, LeaseTTL: 8 * time.Second, RenewEvery: 2 * time.Second,
				HandOverLead: time.Second, StopGrace: 30 * time.Second, Warmup: time.Second, AckExtend: 5 * time.Second},
		},
		{
			name: "renewal not shorter than the lease: a third of it; most shards not below the capacity",
			in:   Config{ID: "w", Capacity: 3, MaxShards: 2, LeaseTTL: 3 * time.Second, RenewEvery: 3 * time.Second},
			want: Config{ID: "w", Capacity: 3, MaxShards: 3, CPUBound: 0.6, LeaseTTL: 3 * time.Second, RenewEvery: time.Second,
				HandOverLead: 2 * time.Second, StopGrace: 15 * time.Second, Warmup: 500 * time.Millisecond, AckExtend: time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.in.withDefaults(); got != tt.want {
				t.Errorf("withDefaults(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestReadEnv sets environment variables, so it runs alone.
func TestReadEnv(t *testing.T) {
	t.Setenv("CICADA_WORKER_ID", "worker-7")
	t.Setenv("CICADA_WORKER_CAPACITY", "4")
	t.Setenv("CICADA_BUCKET", "runs")
	t.Setenv("CICADA_LOG_LEVEL", "debug")
	e, err := ReadEnv()
	if err != nil {
		t.Fatalf("ReadEnv: %v", err)
	}
	if e.Worker.ID != "worker-7" || e.Worker.Capacity != 4 || e.Bucket != "runs" || e.Log.Level != "debug" || e.Worker.LeaseTTL != 6*time.Second ||
		e.Worker.HandOverLead != 2*time.Second || e.Worker.CPUBound != 0.6 {
		t.Errorf("ReadEnv = %+v", e)
	}
}
