package client

// ParseRetryAfter exposes retryAfter to the tests.
var ParseRetryAfter = retryAfter
