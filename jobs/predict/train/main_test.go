package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainReproducesShippedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	corpus, model, texts := filepath.Join(dir, "corpus.tsv"), filepath.Join(dir, "model.bin"), filepath.Join(dir, "texts.txt")
	if err := realMain(context.Background(), []string{"-corpus", corpus, "-model", model, "-texts", texts}); err != nil {
		t.Fatalf("train: %v", err)
	}
	for _, f := range []struct{ got, want string }{
		{corpus, "../../../shared/predict/testdata/corpus.tsv"},
		{model, "../../../shared/predict/model.bin"},
	} {
		got, err := os.ReadFile(f.got)
		if err != nil {
			t.Fatalf("read output: %v", err)
		}
		want, err := os.ReadFile(f.want)
		if err != nil {
			t.Fatalf("read shipped file: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from shipped %s", filepath.Base(f.got), f.want)
		}
	}
	b, err := os.ReadFile(texts)
	if err != nil {
		t.Fatalf("read texts: %v", err)
	}
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(lines) != 200 || lines[0] == "" {
		t.Errorf("texts file has %d lines, want 200 non-empty", len(lines))
	}
}

func TestTrainErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing dir", []string{"-corpus", "", "-model", filepath.Join(t.TempDir(), "no", "model.bin")}, "does not exist"},
		{"extra args", []string{"-model", "", "-corpus", "", "x"}, "unexpected arguments"},
		{"bad flag", []string{"-nope"}, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := realMain(context.Background(), tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("realMain(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
