package predict

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"hash/fnv"
	"os"
	"slices"
	"strings"
	"testing"
)

const corpusPath = "testdata/corpus.tsv"

func readShippedCorpus(t testing.TB) ([]byte, []Example) {
	t.Helper()
	raw, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatalf("read shipped corpus: %v", err)
	}
	ex, err := ReadCorpus(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse shipped corpus: %v", err)
	}
	return raw, ex
}

func TestCorpusReproducible(t *testing.T) {
	t.Parallel()
	raw, shipped := readShippedCorpus(t)
	gen := GenerateCorpus()
	if len(gen) != CorpusSize {
		t.Fatalf("GenerateCorpus() returned %d sentences, want %d", len(gen), CorpusSize)
	}
	var buf bytes.Buffer
	if err := WriteCorpus(&buf, gen); err != nil {
		t.Fatalf("WriteCorpus: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), raw) {
		t.Fatalf("generated corpus differs from %s; run `go run ./jobs/predict/train`", corpusPath)
	}
	if !slices.Equal(gen, shipped) {
		t.Errorf("ReadCorpus(WriteCorpus(x)) != x")
	}
	counts := make([]int, len(CorpusLabels))
	seen := make(map[string]bool)
	for _, ex := range gen {
		counts[ex.Label]++
		if seen[ex.Text] {
			t.Errorf("duplicate sentence %q", ex.Text)
		}
		seen[ex.Text] = true
	}
	for c, n := range counts {
		if n != CorpusSize/len(CorpusLabels) {
			t.Errorf("%s has %d sentences, want %d", CorpusLabels[c], n, CorpusSize/len(CorpusLabels))
		}
	}
}

func TestEmbeddedModelMatchesTraining(t *testing.T) {
	t.Parallel()
	_, shipped := readShippedCorpus(t)
	train, _ := Split(shipped)
	m, err := Train(train, CorpusLabels)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	got, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	if !bytes.Equal(got, modelBin) {
		t.Fatalf("fresh training gives %d bytes that differ from the embedded model.bin (%d bytes); run `go run ./jobs/predict/train`", len(got), len(modelBin))
	}
	// Round trip: loading and re-encoding is the identity.
	again, err := Default().MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary of Default(): %v", err)
	}
	if !bytes.Equal(again, modelBin) {
		t.Errorf("Load then MarshalBinary changed the model")
	}
}

func TestHeldOutAccuracy(t *testing.T) {
	t.Parallel()
	_, shipped := readShippedCorpus(t)
	_, held := Split(shipped)
	m := Default()
	correct := 0
	perClass := make([][2]int, len(CorpusLabels)) // correct, total
	for _, ex := range held {
		c, label := m.Predict(ex.Text)
		if label != CorpusLabels[c] {
			t.Fatalf("Predict(%q) label %q does not match category %d", ex.Text, label, c)
		}
		perClass[ex.Label][1]++
		if c == ex.Label {
			correct++
			perClass[ex.Label][0]++
		}
	}
	acc := float64(correct) / float64(len(held))
	t.Logf("held-out accuracy: %.2f%% (%d/%d)", 100*acc, correct, len(held))
	for c, pc := range perClass {
		t.Logf("  %-10s %d/%d", CorpusLabels[c], pc[0], pc[1])
	}
	if acc < 0.80 {
		t.Errorf("held-out accuracy %.2f%%, want >= 80%%", 100*acc)
	}
	if acc == 1 {
		t.Errorf("held-out accuracy is 100%%: the corpus is too easy to show anything")
	}
}

func TestPredictObvious(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want string
	}{
		{"the striker scored twice in the final", "sports"},
		{"The goalkeeper saved a penalty in the derby", "sports"},
		{"the coach praised the captain after the championship game", "sports"},
		{"quarterly profit fell 3 percent and shares slumped", "business"},
		{"the bank agreed to buy the insurer for $2 billion", "business"},
		{"inflation and interest rates worried investors on the stock market", "business"},
		{"the smartphone maker released a new operating system with end-to-end encryption", "technology"},
		{"hackers exploited a security flaw in the web browser", "technology"},
		{"developers can download the open source database from the app store", "technology"},
		{"astronomers observed a distant galaxy with the James Webb telescope", "science"},
		{"biologists sequenced the genome of the honeybee", "science"},
		{"climate scientists warned that sea level rise is accelerating", "science"},
		{"THE STRIKER SCORED TWICE IN THE FINAL", "sports"}, // case-insensitive
	}
	m := Default()
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			c, got := m.Predict(tt.text)
			if got != tt.want {
				t.Errorf("Predict(%q) = %d %q, want %q", tt.text, c, got, tt.want)
			}
		})
	}
}

func TestPredictEdgeCases(t *testing.T) {
	t.Parallel()
	m := Default()
	tests := []string{"", "   ", "!!!", "\xff\xfe", "日本語のテキスト", strings.Repeat("word ", 10000)}
	for _, text := range tests {
		c, label := m.Predict(text)
		if c < 0 || c >= len(m.Labels()) || label != m.Labels()[c] {
			t.Errorf("Predict(%.20q) = %d %q, want a valid category", text, c, label)
		}
	}
}

func TestPredictAllocs(t *testing.T) {
	m := Default()
	for _, text := range []string{"the striker scored twice in the final", "Ünïcödé Straße ÉTÉ 東京"} {
		if n := testing.AllocsPerRun(100, func() { m.Predict(text) }); n != 0 {
			t.Errorf("Predict(%q) allocates %v times, want 0", text, n)
		}
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	m := Default()
	got := m.Labels()
	if !slices.Equal(got, []string{"sports", "business", "technology", "science"}) {
		t.Fatalf("Labels() = %q", got)
	}
	got[0] = "changed"
	if m.Labels()[0] != "sports" {
		t.Errorf("Labels() returned the model's own slice; mutation leaked")
	}
	if m.Buckets() != 1<<16 {
		t.Errorf("Buckets() = %d, want 65536", m.Buckets())
	}
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	const mask = 1<<16 - 1
	fnvBucket := func(s string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(s))
		return bucketOf(h.Sum32(), mask)
	}
	tests := []struct {
		name string
		text string
		want []string // unigrams and bigrams in emission order
	}{
		{"empty", "", nil},
		{"one word", "Hello", []string{"hello"}},
		{"two words", "Hello, World!", []string{"hello", "world", "hello world"}},
		{"three words", "a b3 C", []string{"a", "b3", "a b3", "c", "b3 c"}},
		{"unicode lowercase", "Straße ÉTÉ", []string{"straße", "été", "straße été"}},
		{"separators only", " \t-- ", nil},
		{"invalid utf8 separates", "ab\xffcd", []string{"ab", "cd", "ab cd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got, want []uint32
			forEachFeature(tt.text, mask, func(b uint32) { got = append(got, b) })
			for _, s := range tt.want {
				want = append(want, fnvBucket(s))
			}
			if !slices.Equal(got, want) {
				t.Errorf("features(%q) = %v, want %v (of %q)", tt.text, got, want, tt.want)
			}
		})
	}
}

func TestSampleTexts(t *testing.T) {
	t.Parallel()
	texts := SampleTexts()
	if len(texts) != 200 {
		t.Fatalf("SampleTexts() has %d texts, want 200", len(texts))
	}
	_, held := Split(GenerateCorpus())
	for i, text := range texts {
		if text != held[i].Text || strings.ContainsAny(text, "\t\n") {
			t.Fatalf("text %d = %q, want held-out %q without tabs or newlines", i, text, held[i].Text)
		}
	}
	texts[0] = "changed"
	if SampleTexts()[0] == "changed" {
		t.Errorf("SampleTexts returned a shared slice")
	}
}

// corrupt returns a copy of modelBin changed by f, with the checksum fixed
// up when fix is true so that the later checks are reached.
func corrupt(f func(b []byte) []byte, fix bool) []byte {
	b := f(bytes.Clone(modelBin))
	if fix && len(b) >= 4 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	}
	return b
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the header"},
		{"magic", corrupt(func(b []byte) []byte { b[0] = 'X'; return b }, true), "bad magic"},
		{"checksum", corrupt(func(b []byte) []byte { b[len(b)-10] ^= 1; return b }, false), "checksum"},
		{"truncated", corrupt(func(b []byte) []byte { return b[:len(b)-9] }, true), "bytes of weights"},
		{"version", corrupt(func(b []byte) []byte { le.PutUint32(b[8:], 9); return b }, true), "version"},
		{"classes", corrupt(func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }, true), "classes"},
		{"buckets not power of two", corrupt(func(b []byte) []byte { le.PutUint32(b[16:], 1000); return b }, true), "power of two"},
		{"entries", corrupt(func(b []byte) []byte { le.PutUint32(b[20:], 1<<17); return b }, true), "entries exceed"},
		{"label length", corrupt(func(b []byte) []byte { b[headerSize] = 0; return b }, true), "label 0"},
		{"nan prior", corrupt(func(b []byte) []byte {
			le.PutUint32(b[headerSize+priorOffset():], 0x7fc00000)
			return b
		}, true), "not finite"},
		{"bucket order", corrupt(func(b []byte) []byte {
			first := headerSize + priorOffset() + 2*4*len(CorpusLabels)
			le.PutUint32(b[first:], 1<<16) // out of range
			return b
		}, true), "out of order or range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// priorOffset is the offset of the prior after the header: the labels.
func priorOffset() int {
	n := 0
	for _, l := range CorpusLabels {
		n += 1 + len(l)
	}
	return n
}

func FuzzLoad(f *testing.F) {
	f.Add(modelBin)
	f.Add(modelBin[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err != nil {
			return
		}
		// A model that loads must predict without panicking.
		m.Predict("the striker scored twice")
	})
}

func BenchmarkPredict(b *testing.B) {
	m := Default()
	texts := SampleTexts()
	b.ReportAllocs()
	bytesTotal := 0
	for _, t := range texts {
		bytesTotal += len(t)
	}
	b.SetBytes(int64(bytesTotal / len(texts)))
	i := 0
	for b.Loop() {
		m.Predict(texts[i%len(texts)])
		i++
	}
}
