// The effective config as TOML, for `bastion config check`: every key with
// the value in force, secrets redacted.
package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redacted replaces a secret's value in printed output.
const Redacted = "<redacted>"

// TOML renders c with every key, in the order of the struct. A field tagged
// `secret:"true"` is printed as Redacted, and so is the password of any
// value that parses as a URL with one (a database DSN, say).
func (c *Config) TOML() string {
	var b strings.Builder
	writeTable(&b, "", reflect.ValueOf(*c))
	return b.String()
}

func writeTable(b *strings.Builder, prefix string, v reflect.Value) {
	t := v.Type()
	type sub struct {
		name string
		v    reflect.Value
	}
	var tables, arrays []sub
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		name := f.Tag.Get("koanf")
		if name == "" || !f.IsExported() {
			continue
		}
		switch {
		case fv.Kind() == reflect.Struct:
			tables = append(tables, sub{name, fv})
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			arrays = append(arrays, sub{name, fv})
		case f.Tag.Get("secret") == "true" && !fv.IsZero():
			fmt.Fprintf(b, "%s = %q\n", name, Redacted)
		default:
			fmt.Fprintf(b, "%s = %s\n", name, value(fv))
		}
	}
	for _, s := range tables {
		fmt.Fprintf(b, "\n[%s%s]\n", prefix, s.name)
		writeTable(b, prefix+s.name+".", s.v)
	}
	for _, s := range arrays {
		for i := range s.v.Len() {
			fmt.Fprintf(b, "\n[[%s%s]]\n", prefix, s.name)
			writeTable(b, prefix+s.name+".", s.v.Index(i))
		}
	}
}

var durationT = reflect.TypeOf(time.Duration(0))

func value(v reflect.Value) string {
	if v.Type() == durationT {
		return strconv.Quote(time.Duration(v.Int()).String())
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(redactURL(v.String()))
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k.String()) + " = " + value(v.MapIndex(k))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = value(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return strconv.Quote(fmt.Sprint(v.Interface()))
}

// redactURL hides the password of a URL such as postgres://u:secret@host/db.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return strings.Replace(u.String(), "xxxxx", Redacted, 1)
}
