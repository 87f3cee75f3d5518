package load

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoTree renders a response message as the generic tree a check path
// walks (map[string]any, []any, string, float64, json.Number, bool, nil),
// close to its protojson rendering, with these differences, so that a
// check reads a prediction as written:
//   - each field is under its JSON name (lowerCamelCase) and, when that
//     differs, under its proto name too, so that either spelling works;
//   - bytes are their raw text, not base64 (a BYTES tensor's label then
//     compares with the expected label directly);
//   - 64-bit integers are numbers (json.Number), not strings;
//   - scalars without presence are there with their zero value (protojson
//     leaves them out), so that a label 0 or false is not "missing".
//
// Enums are their value's name; google.protobuf.Value, Struct and ListValue
// are the JSON they stand for, wrappers their value, and the other
// well-known types (Timestamp, Duration, Any, ...) what protojson renders.
func protoTree(m protoreflect.Message) any {
	if v, ok := wellKnown(m); ok {
		return v
	}
	fields := m.Descriptor().Fields()
	out := make(map[string]any, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fd.IsList() && !fd.IsMap() && fd.HasPresence() && !m.Has(fd) {
			continue // an unset message, oneof member or optional scalar
		}
		v := fieldTree(fd, m.Get(fd))
		out[fd.JSONName()] = v
		if n := string(fd.Name()); n != fd.JSONName() {
			out[n] = v
		}
	}
	return out
}

// fieldTree renders one field's value: a list, a map or a single value.
func fieldTree(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			out[i] = valueTree(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		mv := fd.MapValue()
		out := make(map[string]any, v.Map().Len())
		v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			out[k.String()] = valueTree(mv, v)
			return true
		})
		return out
	}
	return valueTree(fd, v)
}

// valueTree renders a single value of field fd's kind.
func valueTree(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return string(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return json.Number(strconv.FormatInt(int64(v.Enum()), 10))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return json.Number(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind:
		return floatTree(v.Float(), 32)
	case protoreflect.DoubleKind:
		return floatTree(v.Float(), 64)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoTree(v.Message())
	}
	return nil
}

// floatTree renders a float as protojson does: the shortest text of its
// own precision (a float 0.1 is 0.1, not 0.10000000149011612), and the
// strings "NaN", "Infinity", "-Infinity".
func floatTree(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// wellKnown renders the well-known types as their JSON; false for any
// other message.
func wellKnown(m protoreflect.Message) (any, bool) {
	d := m.Descriptor()
	if d.ParentFile() == nil || d.ParentFile().Package() != "google.protobuf" {
		return nil, false
	}
	fields := d.Fields()
	switch d.Name() {
	case "Value":
		od := m.WhichOneof(d.Oneofs().ByName("kind"))
		if od == nil {
			return nil, true
		}
		switch od.Name() {
		case "null_value":
			return nil, true
		case "number_value":
			return floatTree(m.Get(od).Float(), 64), true
		case "string_value":
			return m.Get(od).String(), true
		case "bool_value":
			return m.Get(od).Bool(), true
		}
		return valueTree(od, m.Get(od)), true // struct_value, list_value
	case "Struct":
		fd := fields.ByName("fields")
		out := make(map[string]any, m.Get(fd).Map().Len())
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			out[k.String()] = protoTree(v.Message())
			return true
		})
		return out, true
	case "ListValue":
		l := m.Get(fields.ByName("values")).List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			out[i] = protoTree(l.Get(i).Message())
		}
		return out, true
	case "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
		"BoolValue", "StringValue", "BytesValue":
		fd := fields.ByName("value")
		return valueTree(fd, m.Get(fd)), true
	case "Timestamp", "Duration", "FieldMask", "Any", "Empty":
		b, err := protojson.Marshal(m.Interface())
		if err != nil {
			return nil, true
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return nil, true
		}
		return v, true
	}
	return nil, false
}
