package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Errors of Bucket operations.
var (
	// ErrNotExist: no object at that key.
	ErrNotExist = errors.New("no such object")
	// ErrPrecondition: a conditional request's condition failed (HTTP
	// 412): the object exists (If-None-Match: *) or has another ETag
	// (If-Match).
	ErrPrecondition = errors.New("precondition failed")
)

// maxObject bounds what Get reads: the largest entry bundle is 256 entries
// of 64 KiB with their 2-byte lengths.
const maxObject = 256*(64<<10+2) + 1

// BucketConfig says where a log is published.
type BucketConfig struct {
	// URL is s3://BUCKET or s3://BUCKET/PREFIX: objects are written under
	// PREFIX/ (checkpoint, tile/…), so one bucket can hold several logs.
	URL string
	// Endpoint is the S3 endpoint: https://HOST[:PORT] or
	// http://HOST[:PORT] (a bare HOST[:PORT] means https). Default
	// https://s3.amazonaws.com.
	Endpoint string
	// Region of the bucket; default us-east-1 (or AWS_REGION).
	Region string
	// Credentials; nil means the usual chain: AWS_ACCESS_KEY_ID /
	// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then MINIO_ROOT_USER /
	// MINIO_ROOT_PASSWORD (or MINIO_ACCESS_KEY / MINIO_SECRET_KEY), then
	// ~/.aws/credentials (AWS_PROFILE), then an instance role.
	Credentials *credentials.Credentials
	// Transport, if set, carries the requests (tests count them).
	Transport http.RoundTripper
}

// Bucket is a prefix of an S3 bucket, written with conditional requests.
type Bucket struct {
	c      *minio.Client
	name   string
	prefix string // "" or "PREFIX/"
	url    string
}

// ParseURL splits s3://BUCKET[/PREFIX] into the bucket name and the prefix
// (without slashes at either end).
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("%q is not s3://BUCKET[/PREFIX]", s)
	}
	prefix = strings.Trim(u.Path, "/")
	if strings.Contains(prefix, "//") {
		return "", "", fmt.Errorf("%q: empty path segment in the prefix", s)
	}
	return u.Host, prefix, nil
}

// OpenBucket connects to the bucket of cfg. It sends no request: the
// publisher's first read tells whether the bucket is reachable.
func OpenBucket(cfg BucketConfig) (*Bucket, error) {
	name, prefix, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("S3 endpoint %q is not http(s)://HOST[:PORT]", cfg.Endpoint)
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// Retries are the publisher's: a retried conditional write that
		// had landed would come back 412, which it checks itself.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", endpoint, err)
	}
	b := &Bucket{c: c, name: name, url: "s3://" + name}
	if prefix != "" {
		b.prefix = prefix + "/"
		b.url += "/" + prefix
	}
	return b, nil
}

// String is the bucket's s3:// URL.
func (b *Bucket) String() string { return b.url }

// key is the object key of a log path ("checkpoint", "tile/0/000").
func (b *Bucket) key(path string) string { return b.prefix + path }

// meta is how an object is served.
type meta struct {
	contentType, cacheControl string
}

// Get returns the object at path and its ETag (unquoted).
func (b *Bucket) Get(ctx context.Context, path string) ([]byte, string, error) {
	obj, err := b.c.GetObject(ctx, b.name, b.key(path), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", b.wrap("GET", path, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxObject+1))
	if err != nil {
		return nil, "", b.wrap("GET", path, err)
	}
	if len(data) > maxObject {
		return nil, "", fmt.Errorf("GET %s/%s: larger than any tile or bundle (%d bytes)", b.url, path, maxObject)
	}
	info, err := obj.Stat()
	if err != nil {
		return nil, "", b.wrap("GET", path, err)
	}
	return data, strings.Trim(info.ETag, `"`), nil
}

// Check succeeds if the object at path has the ETag etag (a conditional
// HEAD, If-Match), or, with etag "", if there is no object there.
func (b *Bucket) Check(ctx context.Context, path, etag string) error {
	opts := minio.StatObjectOptions{}
	if etag != "" {
		if err := opts.SetMatchETag(etag); err != nil {
			return err
		}
	}
	info, err := b.c.StatObject(ctx, b.name, b.key(path), opts)
	err = b.wrap("HEAD", path, err)
	switch {
	case etag == "" && err == nil:
		return fmt.Errorf("%w: %s/%s appeared (ETag %s)", ErrPrecondition, b.url, path, info.ETag)
	case etag == "" && errors.Is(err, ErrNotExist):
		return nil
	case errors.Is(err, ErrNotExist):
		return fmt.Errorf("%w: %s/%s is gone", ErrPrecondition, b.url, path)
	}
	return err
}

// Create writes a new object at path (If-None-Match: *): ErrPrecondition
// if one is already there. It returns the new ETag.
func (b *Bucket) Create(ctx context.Context, path string, data []byte, m meta) (string, error) {
	return b.put(ctx, path, data, m, "If-None-Match", "*")
}

// Replace overwrites the object at path only if its ETag is still etag
// (If-Match): ErrPrecondition otherwise. It returns the new ETag.
func (b *Bucket) Replace(ctx context.Context, path string, data []byte, m meta, etag string) (string, error) {
	return b.put(ctx, path, data, m, "If-Match", etag)
}

func (b *Bucket) put(ctx context.Context, path string, data []byte, m meta, cond, etag string) (string, error) {
	opts := minio.PutObjectOptions{
		ContentType:      m.contentType,
		CacheControl:     m.cacheControl,
		DisableMultipart: true, // conditions apply to one PUT
		SendContentMd5:   true, // the store checks the body it received
	}
	if cond == "If-None-Match" {
		opts.SetMatchETagExcept(etag)
	} else {
		opts.SetMatchETag(etag)
	}
	info, err := b.c.PutObject(ctx, b.name, b.key(path), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return "", b.wrap("PUT", path, err)
	}
	return strings.Trim(info.ETag, `"`), nil
}

// List calls fn for every object under the prefix's tile/ with its path
// (relative to the prefix) and ETag.
func (b *Bucket) List(ctx context.Context, fn func(path, etag string) error) error {
	for o := range b.c.ListObjects(ctx, b.name, minio.ListObjectsOptions{Prefix: b.key("tile/"), Recursive: true}) {
		if o.Err != nil {
			return b.wrap("LIST", "tile/", o.Err)
		}
		if err := fn(strings.TrimPrefix(o.Key, b.prefix), strings.Trim(o.ETag, `"`)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// wrap names the request and maps S3's answers to ErrNotExist and
// ErrPrecondition.
func (b *Bucket) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket:
		return fmt.Errorf("%s %s/%s: %w", op, b.url, path, ErrNotExist)
	case r.Code == minio.PreconditionFailed || r.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s/%s: %w", op, b.url, path, ErrPrecondition)
	case r.Code == "AccessDenied" || r.Code == "InvalidAccessKeyId" || r.Code == "SignatureDoesNotMatch":
		return fmt.Errorf("%s %s/%s: %w (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, MINIO_ROOT_USER and MINIO_ROOT_PASSWORD, ~/.aws/credentials or an instance role; they need s3:GetObject, s3:PutObject and s3:ListBucket on the prefix)", op, b.url, path, err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, b.url, path, err)
}
