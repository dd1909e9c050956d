package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/api"
)

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make writer tokens for tlog serve --write-tokens",
	}
	var name, kinds, systems string
	newCmd := &cobra.Command{
		Use:   "new --name NAME [--kinds K,...] [--systems PATTERN,...]",
		Short: "Print a writers-file line with a fresh token",
		Long: `Prints one line for a --write-tokens file: the writer's name, a fresh token
(32 bytes from the system's random source, base64url) and its scopes. Append it
to the file (mode 0600) and send SIGHUP to tlog serve; give the token to the
writer, who sends it as Authorization: Bearer <token> (the tlog commands read
it from TLOG_TOKEN). The log keeps only the token's SHA-256.`,
		Example: `  tlog token new --name kyc-team --kinds decision --systems 'kyc-*' >> /etc/tlog/writers
  chmod 600 /etc/tlog/writers && kill -HUP $(pidof tlog)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			line := name + " " + api.NewToken()
			if kinds != "" {
				line += " kinds=" + kinds
			}
			if systems != "" {
				line += " systems=" + systems
			}
			// The line must parse as the server will parse it.
			if _, err := api.ParseWriters([]byte(line)); err != nil {
				return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "line 1: "))
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
	fl := newCmd.Flags()
	fl.StringVar(&name, "name", "", "writer name, shown in logs and refusals (required)")
	fl.StringVar(&kinds, "kinds", "", "kinds the writer may log: raw, release, decision, access, evaluation (default: all)")
	fl.StringVar(&systems, "systems", "", "system names or patterns (* matches anything) its decision records must name (default: any)")
	cmd.AddCommand(newCmd)
	return cmd
}
