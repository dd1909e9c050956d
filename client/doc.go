// Package client is the Go client of a tlog log: submissions, proofs,
// search, an authenticated reader of the log's tiles and a batching
// decision logger, over the log's HTTP API (c2sp.org/tlog-tiles and
// /api/v1).
//
// # Verified state
//
// A Client keeps the last checkpoint it verified, in memory or in a state
// file (WithStateFile), as immudb's clients do. Every checkpoint the
// client is shown — the log's latest, the one a receipt or proof comes
// with — is verified with the log's key (and the witness policy, when
// given) and proven consistent with the kept one before anything is
// checked against it; a newer one then replaces the kept one. A log that
// contradicts the kept checkpoint gets an *InconsistentError carrying both
// signed checkpoints (the evidence), and the state is never updated from
// it. Every other failure ("could not check": the log unreachable, an
// error answer) is a plain error: errors.Is(err, ErrInconsistent) tells
// the two apart.
//
// Without a log key (no WithLogKey or WithPolicy) the client still checks
// every proof against the root of the checkpoint it came with, but cannot
// know that checkpoint is the log's: results say so (Verified false), and
// the calls that only make sense with a key (Latest, Consistent, Entries)
// return ErrNoLogKey.
//
// The package imports neither the server's store nor its HTTP framework;
// the JSON types it shares with the server are in package wire.
package client
