// Package buildinfo describes the running binary from the build
// information the Go toolchain embeds: the module version (a tag for
// go install …@vX.Y.Z, "(devel)" for a build from a checkout), the VCS
// revision and time of a checkout build, and the Go version.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Info is what the binary knows about its build. Fields it does not know
// are "unknown" (Revision, Time) or false.
type Info struct {
	Version   string // module version, e.g. v0.4.0 or (devel)
	Revision  string // VCS revision of a checkout build
	Time      string // VCS commit time (RFC 3339)
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string
}

// Read returns the build information of the running binary.
func Read() Info {
	info := Info{Version: "(devel)", Revision: "unknown", Time: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line "tlog version" prints after the program name:
// version, revision (with "+dirty" for uncommitted changes), commit time
// and Go version.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified && !strings.HasSuffix(i.Version, "+dirty") {
		rev += "+dirty"
	}
	return fmt.Sprintf("%s (revision %s, %s, %s %s/%s)", i.Version, rev, i.Time, i.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// Command is the "version" subcommand of the program named program: it
// prints "<program> <Read()>".
func Command(program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), program, Read())
			return err
		},
	}
}
