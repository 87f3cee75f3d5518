// Command train regenerates the predict service's corpus and model:
//
//	go run ./jobs/predict/train [-corpus PATH] [-model PATH] [-texts PATH]
//
// Run it from the module root. Output is deterministic: a rerun rewrites
// byte-identical files. An empty -corpus or -model skips that file; -texts
// also writes predict.SampleTexts, one per line, for load-test data.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cicadaload/cicada/shared/predict"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func realMain(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	corpusPath := fs.String("corpus", "shared/predict/testdata/corpus.tsv", "where to write the generated corpus (empty: skip)")
	modelPath := fs.String("model", "shared/predict/model.bin", "where to write the trained model (empty: skip)")
	textsPath := fs.String("texts", "", "also write sample texts for load tests, one per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	examples := predict.GenerateCorpus()
	if *corpusPath != "" {
		var buf bytes.Buffer
		if err := predict.WriteCorpus(&buf, examples); err != nil {
			return err
		}
		if err := writeFile(*corpusPath, buf.Bytes()); err != nil {
			return err
		}
	}

	train, held := predict.Split(examples)
	m, err := predict.Train(train, predict.CorpusLabels)
	if err != nil {
		return err
	}
	correct := 0
	for _, ex := range held {
		if c, _ := m.Predict(ex.Text); c == ex.Label {
			correct++
		}
	}
	fmt.Printf("corpus: %d sentences (%d train, %d held out); held-out accuracy %.2f%%\n",
		len(examples), len(train), len(held), 100*float64(correct)/float64(len(held)))

	if *modelPath != "" {
		b, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		if err := writeFile(*modelPath, b); err != nil {
			return err
		}
		fmt.Printf("model: %d bytes written to %s\n", len(b), *modelPath)
	}
	if *textsPath != "" {
		texts := predict.SampleTexts()
		if err := writeFile(*textsPath, []byte(strings.Join(texts, "\n")+"\n")); err != nil {
			return err
		}
		fmt.Printf("texts: %d lines written to %s\n", len(texts), *textsPath)
	}
	return nil
}

// writeFile replaces path atomically, so that an interrupted run never
// leaves a half-written model for go:embed to pick up.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("write %s: directory %s does not exist (run from the module root?)", path, dir)
	}
	tmp, err := os.CreateTemp(dir, ".train-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
