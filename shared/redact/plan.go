package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// PlanJSON returns a plan's JSON (plan.json) with the values of its
// credential headers (target.headers, HTTP headers or gRPC metadata) and
// of its target URL's query and userinfo replaced by Mark. Members keep
// their order and form; data itself is returned when nothing is redacted.
// Input that is not a JSON object is redacted as Text.
func PlanJSON(data []byte) []byte {
	top, err := members(data)
	if err != nil {
		return []byte(Text(string(data)))
	}
	ti := indexKey(top, "target")
	if ti < 0 {
		return data
	}
	target, err := members(top[ti].val)
	if err != nil {
		return data // not an object: no headers, no URL
	}
	changed := false
	for i := range target {
		m := &target[i]
		switch m.key {
		case "url":
			var u string
			if json.Unmarshal(m.val, &u) != nil {
				continue
			}
			if r := URL(u); r != u {
				m.val = mustString(r)
				changed = true
			}
		case "headers":
			hs, err := members(m.val)
			if err != nil {
				continue
			}
			hchanged := false
			for j := range hs {
				var v string
				if !IsHeader(hs[j].key) || json.Unmarshal(hs[j].val, &v) != nil || v == "" || v == Mark {
					continue
				}
				hs[j].val = mustString(Mark)
				hchanged = true
			}
			if hchanged {
				m.val = encodeMembers(hs)
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	top[ti].val = encodeMembers(target)
	return encodeMembers(top)
}

// member is one member of a JSON object, its value as written.
type member struct {
	key string
	val json.RawMessage
}

// members reads a JSON object's members in order.
func members(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("read object: not an object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read object: %w", err)
		}
		key, ok := t.(string)
		if !ok {
			return nil, errors.New("read object: key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("read object member %q: %w", key, err)
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	return out, nil
}

func indexKey(ms []member, key string) int {
	for i, m := range ms {
		if m.key == key {
			return i
		}
	}
	return -1
}

// encodeMembers writes members as a compact JSON object.
func encodeMembers(ms []member) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustString(m.key))
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// mustString encodes s as a JSON string, which cannot fail.
func mustString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
