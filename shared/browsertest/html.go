package browsertest

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

// ExternalResource finds anything that would make a browser fetch from
// elsewhere when a page opens: a src (or poster, data, xlink:href) to a
// URL with a scheme or a protocol-relative one, a stylesheet link, a CSS
// url() or @import. A link to navigate (<a href>) fetches nothing until
// followed, and xmlns attributes only name namespaces.
var ExternalResource = regexp.MustCompile(`(?i)(?:\b(?:src|xlink:href|poster|data|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))|<link\b|<script\b|<img\b|<iframe\b|url\s*\(|@import|@font-face`)

// CheckWellFormed parses page as XML with HTML's void elements and
// entities allowed, so that a broken tag or an unescaped '<' from a label
// fails the test.
func CheckWellFormed(t testing.TB, page string) {
	t.Helper()
	page = strings.TrimPrefix(strings.TrimSpace(page), "<!DOCTYPE html>")
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	dec.Strict = true
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well formed: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if !isVoid(v.Name.Local) {
				stack = append(stack, v.Name.Local)
			}
		case xml.EndElement:
			if isVoid(v.Name.Local) {
				continue
			}
			if len(stack) == 0 || stack[len(stack)-1] != v.Name.Local {
				t.Fatalf("page closes <%s> out of order (open: %v)", v.Name.Local, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("page leaves elements open: %v", stack)
	}
}

func isVoid(name string) bool {
	switch name {
	case "meta", "br", "img", "input", "link", "hr":
		return true
	}
	return false
}
