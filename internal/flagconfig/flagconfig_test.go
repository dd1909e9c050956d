package flagconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type settings struct {
	data   string
	size   int
	age    time.Duration
	accept bool
	hosts  []string
	token  string
}

func flags(s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.StringVar(&s.data, "data", "./data", "")
	fs.IntVar(&s.size, "batch-size", 100, "")
	fs.DurationVar(&s.age, "batch-age", 5*time.Millisecond, "")
	fs.BoolVar(&s.accept, "accept-unverified-certificates", false, "")
	fs.StringSliceVar(&s.hosts, "allowed-host", nil, "")
	fs.StringVar(&s.token, "token", "", "")
	fs.SetAnnotation("token", SecretAnnotation, []string{"true"})
	return fs
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The precedence table: flag > environment > file > default, for each kind
// of flag.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
data: /from/file
batch-size: 7
batch-age: 1s
accept-unverified-certificates: true
allowed-host: [a.example, b.example]
`)
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    settings
		sources Sources
	}{
		{name: "defaults", want: settings{data: "./data", size: 100, age: 5 * time.Millisecond},
			sources: Sources{"data": FromDefault, "batch-size": FromDefault, "allowed-host": FromDefault}},
		{name: "file", file: file, want: settings{data: "/from/file", size: 7, age: time.Second, accept: true, hosts: []string{"a.example", "b.example"}},
			sources: Sources{"data": FromFile, "batch-size": FromFile, "batch-age": FromFile, "allowed-host": FromFile, "token": FromDefault}},
		{name: "environment over file", file: file,
			env:     map[string]string{"TLOG_DATA": "/from/env", "TLOG_BATCH_SIZE": "9", "TLOG_ALLOWED_HOST": "c.example,d.example", "TLOG_ACCEPT_UNVERIFIED_CERTIFICATES": "false"},
			want:    settings{data: "/from/env", size: 9, age: time.Second, hosts: []string{"c.example", "d.example"}},
			sources: Sources{"data": FromEnv, "batch-size": FromEnv, "batch-age": FromFile, "allowed-host": FromEnv, "accept-unverified-certificates": FromEnv}},
		{name: "flag over environment and file", file: file,
			args:    []string{"--data", "/from/flag", "--allowed-host", "e.example", "--batch-age", "2s"},
			env:     map[string]string{"TLOG_DATA": "/from/env", "TLOG_BATCH_AGE": "3s"},
			want:    settings{data: "/from/flag", size: 7, age: 2 * time.Second, accept: true, hosts: []string{"e.example"}},
			sources: Sources{"data": FromFlag, "batch-size": FromFile, "batch-age": FromFlag, "allowed-host": FromFlag}},
		{name: "environment without a file", env: map[string]string{"TLOG_BATCH_AGE": "0s", "TLOG_BIN": "/usr/bin/tlog"},
			want:    settings{data: "./data", size: 100},
			sources: Sources{"batch-age": FromEnv, "data": FromDefault}},
		{name: "empty environment value", env: map[string]string{"TLOG_DATA": ""},
			want: settings{data: "", size: 100, age: 5 * time.Millisecond}, sources: Sources{"data": FromEnv}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s settings
			fs := flags(&s)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			src, err := Apply(fs, "TLOG", c.file, envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.data != c.want.data || s.size != c.want.size || s.age != c.want.age || s.accept != c.want.accept || strings.Join(s.hosts, ",") != strings.Join(c.want.hosts, ",") {
				t.Errorf("settings %+v, want %+v", s, c.want)
			}
			for name, want := range c.sources {
				if src[name] != want {
					t.Errorf("source of %s = %q, want %q", name, src[name], want)
				}
			}
		})
	}
}

// Bad settings are refused with the setting, its source and the reason.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{name: "unknown key", file: "data: x\nbatch-sise: 3\n", want: `unknown setting "batch-sise"`},
		{name: "the config key itself", file: "config: other.yaml\n", want: `unknown setting "config"`},
		{name: "bad int in file", file: "batch-size: many\n", want: "batch-size"},
		{name: "bad duration in file", file: "batch-age: 5 minutes\n", want: "batch-age"},
		{name: "list for a scalar", file: "data: [a, b]\n", want: "takes one value, not a list"},
		{name: "nested mapping", file: "data: {dir: x}\n", want: "want a scalar or a list"},
		{name: "null value", file: "data:\n", want: "has no value"},
		{name: "set twice", file: "data: a\ndata: b\n", want: "set twice"},
		{name: "not a mapping", file: "- data\n- x\n", want: "want a mapping"},
		{name: "two documents", file: "data: a\n---\ndata: b\n", want: "more than one YAML document"},
		{name: "malformed YAML", file: "data: [a\n", want: "serve.yaml"},
		{name: "bad env", env: map[string]string{"TLOG_BATCH_SIZE": "1e3"}, want: "TLOG_BATCH_SIZE"},
		{name: "bad bool env", env: map[string]string{"TLOG_ACCEPT_UNVERIFIED_CERTIFICATES": "yes please"}, want: "TLOG_ACCEPT_UNVERIFIED_CERTIFICATES"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s settings
			fs := flags(&s)
			file := ""
			if c.file != "" {
				file = writeFile(t, c.file)
			}
			_, err := Apply(fs, "TLOG", file, envOf(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
	var s settings
	if _, err := Apply(flags(&s), "TLOG", filepath.Join(t.TempDir(), "missing.yaml"), envOf(nil)); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	big := writeFile(t, "data: "+strings.Repeat("x", MaxFileSize)+"\n")
	if _, err := Apply(flags(&s), "TLOG", big, envOf(nil)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	// Empty and comment-only files set nothing.
	for _, text := range []string{"", "# nothing yet\n"} {
		if _, err := Apply(flags(&s), "TLOG", writeFile(t, text), envOf(nil)); err != nil {
			t.Fatalf("file %q: %v", text, err)
		}
	}
}

// --print-config prints what a --config file takes, with sources, secrets
// and URL passwords masked; reading it back gives the same settings.
func TestBindPrintConfig(t *testing.T) {
	var s settings
	ran := false
	cmd := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	fs := flags(&s)
	cmd.Flags().AddFlagSet(fs)
	cmd.Flags().String("webhook", "", "")
	Bind(cmd, "TLOGTEST")
	file := writeFile(t, "batch-size: 7\ntoken: hunter2\nwebhook: https://ops:s3cret@hooks.example/x\n")
	t.Setenv("TLOGTEST_DATA", "/from/env")
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--config", file, "--print-config", "--allowed-host", "a.example,b.example"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Fatal("--print-config ran the command")
	}
	got := out.String()
	for _, want := range []string{
		"batch-size: 7 # file\n",
		"data: /from/env # environment\n",
		"batch-age: 5ms # default\n",
		"allowed-host: [a.example, b.example] # flag\n",
		"token: '********' # file\n",
		"webhook: https://ops:********@hooks.example/x # file\n",
		"accept-unverified-certificates: false # default\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("--print-config output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hunter2") || strings.Contains(got, "s3cret") {
		t.Fatalf("a secret was printed:\n%s", got)
	}

	// The printed settings (secrets aside) read back as the same settings.
	var back settings
	fs2 := flags(&back)
	var kept []string
	for _, line := range strings.Split(got, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "token:") && !strings.HasPrefix(line, "webhook:") {
			kept = append(kept, line)
		}
	}
	if _, err := Apply(fs2, "NONE", writeFile(t, strings.Join(kept, "\n")), envOf(nil)); err != nil {
		t.Fatalf("printed settings do not read back: %v\n%s", err, got)
	}
	if back.size != 7 || back.data != "/from/env" || strings.Join(back.hosts, ",") != "a.example,b.example" || back.age != 5*time.Millisecond {
		t.Fatalf("read back %+v", back)
	}

	// Without --print-config the command runs with the settings; the file
	// may come from PREFIX_CONFIG.
	var s2 settings
	cmd2 := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	cmd2.Flags().AddFlagSet(flags(&s2))
	Bind(cmd2, "TLOGTEST")
	t.Setenv("TLOGTEST_CONFIG", writeFile(t, "batch-size: 11\n"))
	cmd2.SetArgs(nil)
	if err := cmd2.Execute(); err != nil {
		t.Fatal(err)
	}
	if !ran || s2.size != 11 || s2.data != "/from/env" {
		t.Fatalf("ran %v with %+v", ran, s2)
	}
}
