// Command function-source writes the trigger's Cloud Functions source: a
// folder that is a Go module root of its own, ready for
// `gcloud functions deploy --source=DIR --entry-point=Trigger`.
//
//	go run ./cmd/function-source -out dist/function
//
// Why a folder of its own: Cloud Functions uploads only the --source folder
// and builds it as the module root, so functions/trigger cannot be uploaded
// as is (it needs the rest of the module, and a `replace ../..` does not
// survive the upload). The Go buildpack reads the module path with
// `go list -m`, blank-imports the package at the folder's root in a
// generated main, runs `go mod tidy` and serves the function named by
// --entry-point (GOOGLE_FUNCTION_TARGET) among those registered with the
// functions framework. So the folder holds:
//
//   - go.mod and go.sum of this repository, unchanged (module
//     github.com/cicadaload/cicada), refused if they replace a module by a
//     local path;
//   - the non-test Go files (and embedded files) of every package of this
//     module that functions/trigger needs on linux/amd64, at their paths;
//   - function.go, package cicada at the root, which blank-imports
//     functions/trigger so that its init registers "Trigger".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/mod/modfile"
)

// defaultPackage is the function's package, relative to the module root.
const defaultPackage = "./functions/trigger"

// markerFile marks a folder this command wrote, the only kind of non-empty
// folder it will delete before writing.
const markerFile = ".cicada-function-source"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "function-source:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("function-source", flag.ContinueOnError)
	out := fs.String("out", "dist/function", "folder to write (replaced if this command wrote it before)")
	pkg := fs.String("pkg", defaultPackage, "the function's package, relative to the module root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := moduleRoot(ctx, ".")
	if err != nil {
		return err
	}
	files, err := generate(ctx, root, *pkg, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "function-source: wrote %d files to %s\n", files, *out)
	return nil
}

// moduleRoot returns the folder of the go.mod that governs dir.
func moduleRoot(ctx context.Context, dir string) (string, error) {
	b, err := goCmd(ctx, dir, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("no go.mod governs %s", dir)
	}
	return filepath.Dir(gomod), nil
}

// listedPackage is the part of `go list -json` this command reads.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	SFiles     []string
	HFiles     []string
	EmbedFiles []string
	Module     *struct {
		Path string
		Main bool
	}
	Error *struct{ Err string }
}

// generate writes the function source of pkg (relative to the module at
// root) into out and returns how many files it wrote.
func generate(ctx context.Context, root, pkg, out string) (int, error) {
	modPath, err := checkGoMod(filepath.Join(root, "go.mod"))
	if err != nil {
		return 0, err
	}
	pkgs, err := moduleDeps(ctx, root, pkg)
	if err != nil {
		return 0, err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := prepareOut(root, out); err != nil {
		return 0, err
	}

	n := 0
	copyIn := func(rel string) error {
		if err := copyFile(filepath.Join(root, rel), filepath.Join(out, rel)); err != nil {
			return err
		}
		n++
		return nil
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := copyIn(f); err != nil {
			return n, err
		}
	}
	var funcImport string
	for _, p := range pkgs {
		relDir, err := filepath.Rel(root, p.Dir)
		if err != nil || relDir == "." || strings.HasPrefix(relDir, "..") {
			return n, fmt.Errorf("package %s lies at %s, not below the module root %s", p.ImportPath, p.Dir, root)
		}
		if filepath.Base(relDir) == "testdata" || len(p.CgoFiles) > 0 {
			return n, fmt.Errorf("package %s cannot be part of the function source (testdata or cgo)", p.ImportPath)
		}
		for _, group := range [][]string{p.GoFiles, p.SFiles, p.HFiles, p.EmbedFiles} {
			for _, f := range group {
				if err := copyIn(filepath.Join(relDir, f)); err != nil {
					return n, err
				}
			}
		}
		if filepath.ToSlash(relDir) == strings.TrimPrefix(filepath.ToSlash(filepath.Clean(pkg)), "./") {
			funcImport = p.ImportPath
		}
	}
	if funcImport == "" {
		return n, fmt.Errorf("package %s is not in module %s", pkg, modPath)
	}
	if err := os.WriteFile(filepath.Join(out, "function.go"), []byte(rootFile(funcImport)), 0o644); err != nil {
		return n, fmt.Errorf("write function.go: %w", err)
	}
	n++
	if err := os.WriteFile(filepath.Join(out, markerFile), []byte("written by go run ./cmd/function-source; replaced on the next run\n"), 0o644); err != nil {
		return n, fmt.Errorf("write %s: %w", markerFile, err)
	}
	return n, nil
}

// rootFile is the package at the folder's root: the buildpack's generated
// main imports it, and it imports the function's package for its init.
func rootFile(funcImport string) string {
	return `// Code generated by cmd/function-source. DO NOT EDIT.

// Package cicada is the root of the trigger's Cloud Functions source: the
// Go buildpack imports the package at the root of the uploaded module, and
// this one imports the trigger, whose init registers the function.
package cicada

import _ "` + funcImport + `" // registers the function (entry point "Trigger")
`
}

// checkGoMod returns the module path of the go.mod at path and refuses one
// that replaces a module by a local folder, which the upload would not carry.
func checkGoMod(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read go.mod: %w", err)
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", path, err)
	}
	if f.Module == nil {
		return "", fmt.Errorf("%s has no module line", path)
	}
	for _, r := range f.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			return "", fmt.Errorf("%s replaces %s by the local folder %s, which the upload would not carry", path, r.Old.Path, r.New.Path)
		}
	}
	return f.Module.Mod.Path, nil
}

// moduleDeps lists pkg and every package of the main module it imports, as
// the function's platform (linux/amd64, no cgo) builds them.
func moduleDeps(ctx context.Context, root, pkg string) ([]listedPackage, error) {
	b, err := goCmdEnv(ctx, root, []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}, "list", "-deps", "-json", pkg)
	if err != nil {
		return nil, err
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue // the standard library, or a dependency go.sum pins
		}
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].ImportPath < pkgs[j].ImportPath })
	return pkgs, nil
}

// prepareOut makes out an empty folder. It deletes an existing out only when
// this command wrote it (the marker file) or it is empty, and never the
// module root or a folder that contains it.
func prepareOut(root, out string) error {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("module root: %w", err)
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if rel, err := filepath.Rel(absOut, absRoot); err == nil && !strings.HasPrefix(rel, "..") {
		return fmt.Errorf("output folder %s is the module root or contains it", out)
	}
	entries, err := os.ReadDir(absOut)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read output folder: %w", err)
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(absOut, markerFile)); err != nil {
			return fmt.Errorf("output folder %s is not empty and was not written by function-source; remove it first", out)
		}
		if err := os.RemoveAll(absOut); err != nil {
			return fmt.Errorf("remove the previous function source: %w", err)
		}
	}
	if err := os.MkdirAll(absOut, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

func goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	return goCmdEnv(ctx, dir, nil, args...)
}

// goCmdEnv runs the go command in dir with extra environment and returns
// its standard output; a failure carries its standard error.
func goCmdEnv(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
