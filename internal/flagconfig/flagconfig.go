// Package flagconfig gives every flag of a command two more sources: the
// environment and a YAML settings file. The flag given on the command line
// wins, then the environment, then the file, then the flag's default:
//
//	flag > PREFIX_NAME environment variable > --config FILE > default
//
// A flag --batch-size is the environment variable PREFIX_BATCH_SIZE and the
// key batch-size of the file, which is one YAML mapping of flag names to
// scalars (or lists, for flags that take several values). A key that names
// no flag is refused, as is a value the flag refuses; environment variables
// with the prefix that name no flag are left alone (other programs use the
// prefix too). The sources are read once, when the command runs; nothing is
// reloaded.
//
// Bind adds --config and --print-config to a command; --print-config prints
// the effective settings with their sources, secrets masked, and exits.
package flagconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// SecretAnnotation marks a flag whose value is a secret (cobra's
// Annotations): --print-config masks it.
const SecretAnnotation = "flagconfig_secret"

// MaxFileSize bounds a settings file.
const MaxFileSize = 1 << 20

// Source says where a setting's effective value came from.
type Source string

const (
	FromDefault Source = "default"
	FromFlag    Source = "flag"
	FromEnv     Source = "environment"
	FromFile    Source = "file"
)

// Sources maps each flag name to the source of its effective value.
type Sources map[string]Source

// skipped are the flags that are not settings.
var skipped = map[string]bool{"config": true, "print-config": true, "help": true}

// EnvName returns the environment variable of a flag: the prefix, an
// underscore, and the flag name upper-cased with '-' as '_'.
func EnvName(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag of fs not given on the command line from the
// environment (looked up with lookupEnv, os.LookupEnv if nil), else from
// the YAML file (none if file is ""), and returns where each value came
// from. An error names the setting, its source and the reason; some flags
// may then already be set.
func Apply(fs *pflag.FlagSet, prefix, file string, lookupEnv func(string) (string, bool)) (Sources, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var settings map[string][]string
	if file != "" {
		var err error
		if settings, err = readFile(fs, file); err != nil {
			return nil, err
		}
	}
	src := Sources{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || skipped[f.Name] {
			return
		}
		switch {
		case f.Changed:
			src[f.Name] = FromFlag
		default:
			if v, ok := lookupEnv(EnvName(prefix, f.Name)); ok {
				if e := set(f, splitList(f, v)); e != nil {
					err = fmt.Errorf("environment %s=%q: %v", EnvName(prefix, f.Name), v, e)
				}
				src[f.Name] = FromEnv
				return
			}
			if vs, ok := settings[f.Name]; ok {
				if e := set(f, vs); e != nil {
					err = fmt.Errorf("%s: %s: %v", file, f.Name, e)
				}
				src[f.Name] = FromFile
				return
			}
			src[f.Name] = FromDefault
		}
	})
	return src, err
}

// readFile reads the YAML settings of fs from file: one mapping of flag
// names to scalars or lists of scalars.
func readFile(fs *pflag.FlagSet, file string) (map[string][]string, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, MaxFileSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", file)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping of setting names to values", file)
	}
	out := make(map[string][]string, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: a setting name must be a string", file, k.Line)
		}
		name := k.Value
		if f := fs.Lookup(name); f == nil || skipped[name] {
			return nil, fmt.Errorf("%s:%d: unknown setting %q (settings are the command's flag names, e.g. %s)", file, k.Line, name, exampleNames(fs))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %q is set twice", file, k.Line, name)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("%s:%d: %s has no value", file, v.Line, name)
			}
			out[name] = []string{v.Value}
		case yaml.SequenceNode:
			if _, ok := fs.Lookup(name).Value.(pflag.SliceValue); !ok {
				return nil, fmt.Errorf("%s:%d: %s takes one value, not a list", file, v.Line, name)
			}
			vs := []string{}
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: list items must be scalars", file, e.Line, name)
				}
				vs = append(vs, e.Value)
			}
			out[name] = vs
		default:
			return nil, fmt.Errorf("%s:%d: %s: want a scalar or a list", file, v.Line, name)
		}
	}
	return out, nil
}

// splitList splits an environment value for a flag that takes several
// values at commas; other flags take it whole.
func splitList(f *pflag.Flag, v string) []string {
	if _, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Split(v, ",")
	}
	return []string{v}
}

// set gives f its values and marks it as set.
func set(f *pflag.Flag, vs []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if err := sv.Replace(vs); err != nil {
			return err
		}
	} else {
		if len(vs) != 1 {
			return fmt.Errorf("takes one value, got %d", len(vs))
		}
		if err := f.Value.Set(vs[0]); err != nil {
			return err
		}
	}
	f.Changed = true
	return nil
}

func exampleNames(fs *pflag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !skipped[f.Name] && len(names) < 3 {
			names = append(names, f.Name)
		}
	})
	return strings.Join(names, ", ")
}

// Print writes the effective settings of fs as YAML a --config file takes,
// sorted by name, each with its source as a comment. Secrets (flags with
// SecretAnnotation) and the passwords of URLs are masked.
func Print(w io.Writer, fs *pflag.FlagSet, src Sources) error {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !skipped[f.Name] {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	var buf bytes.Buffer
	for _, name := range names {
		f := fs.Lookup(name)
		var node yaml.Node
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vs := sv.GetSlice()
			for i := range vs {
				vs[i] = mask(f, vs[i])
			}
			node.Encode(vs)
			node.Style = yaml.FlowStyle
		} else if f.Value.Type() == "string" {
			node.Encode(mask(f, f.Value.String()))
		} else {
			// Numbers, durations, booleans: as the flag prints them.
			node = yaml.Node{Kind: yaml.ScalarNode, Value: mask(f, f.Value.String())}
		}
		v, err := yaml.Marshal(&node)
		if err != nil {
			return err
		}
		s := src[name]
		if s == "" {
			s = FromDefault
		}
		fmt.Fprintf(&buf, "%s: %s # %s\n", name, strings.TrimSpace(string(v)), s)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// mask hides a secret flag's value, and the password of a URL.
func mask(f *pflag.Flag, v string) string {
	if v == "" {
		return v
	}
	if _, secret := f.Annotations[SecretAnnotation]; secret {
		return "********"
	}
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", "********", 1)
		}
	}
	return v
}

// Bind adds --config FILE and --print-config to cmd and has its RunE apply
// the settings (Apply, with the environment prefix; the file may also be
// named by PREFIX_CONFIG) before it runs. With --print-config, the command
// prints the effective settings and returns without running. Call it once
// the command's RunE is set; flags added later are covered too.
func Bind(cmd *cobra.Command, prefix string) {
	var file string
	var printIt bool
	fl := cmd.Flags()
	fl.StringVar(&file, "config", "", "YAML settings file: flag names as keys (flag > "+prefix+"_* environment > file > default); also "+prefix+"_CONFIG")
	fl.BoolVar(&printIt, "print-config", false, "print the effective settings with their sources (secrets masked) and exit")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if file == "" {
			file = os.Getenv(prefix + "_CONFIG")
		}
		src, err := Apply(c.Flags(), prefix, file, nil)
		if err != nil {
			return err
		}
		if printIt {
			fmt.Fprintf(c.OutOrStdout(), "# %s: effective settings (flag > %s_* environment > --config file > default)\n", c.CommandPath(), prefix)
			return Print(c.OutOrStdout(), c.Flags(), src)
		}
		return run(c, args)
	}
}
