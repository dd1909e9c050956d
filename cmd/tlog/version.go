package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/internal/buildinfo"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "tlog", buildinfo.Read())
			return err
		},
	}
}
