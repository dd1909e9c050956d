// Package miniotest runs a real MinIO server for tests: on 127.0.0.1, on a
// port the test picks, over a temporary directory, stopped at the end of
// the test. TLOG_MINIO names the binary (make test builds it into
// bin/minio from github.com/minio/minio at the version the Makefile pins);
// without it a test fails in CI (CI set) and is skipped, saying so,
// elsewhere. No S3 is mocked.
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials of the test server's root user.
const (
	User     = "tlogtest"
	Password = "tlogtest-secret-key"
)

// Server is a running (or stopped) MinIO server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	addr string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// Start starts a MinIO server, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("TLOG_MINIO")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TLOG_MINIO is not set: make test builds MinIO into bin/minio and sets it")
		}
		t.Skip("set TLOG_MINIO to a MinIO server binary (make test builds bin/minio and sets it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), addr: addr}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Endpoint is the server's URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return "http://" + s.addr }

// Env is the environment a tlog process needs to reach the server.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + User, "AWS_SECRET_ACCESS_KEY=" + Password, "AWS_REGION=us-east-1"}
}

// Credentials of the root user.
func Credentials() *credentials.Credentials { return credentials.NewStaticV4(User, Password, "") }

// Client is a MinIO client of the server, for tests to look into buckets.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.addr, &minio.Options{Creds: Credentials()})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Restart starts the server (again, on the same address and directory)
// and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("miniotest: already running")
	}
	var out bytes.Buffer
	cmd := exec.Command(s.bin, "server", "--address", s.addr, "--console-address", "127.0.0.1:0", "--quiet", s.dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd, s.out = cmd, &out
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint() + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// Ready, but S3 requests may still get "Server not
				// initialized yet": wait for one to succeed.
				c, cerr := minio.New(s.addr, &minio.Options{Creds: Credentials()})
				if cerr != nil {
					s.t.Fatal(cerr)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = c.ListBuckets(ctx)
				cancel()
				if err == nil {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("MinIO did not become ready at %s: %v\n%s", s.addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (SIGKILL: an outage, not a shutdown).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Bucket creates a bucket; public makes it readable by anyone (GET of any
// object, as a bucket behind a CDN is), so that plain HTTP clients read the
// log from it at Endpoint()/NAME/….
func (s *Server) Bucket(name string, public bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		s.t.Fatal(err)
	}
	if public {
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, name)
		if err := c.SetBucketPolicy(ctx, name, policy); err != nil {
			s.t.Fatal(err)
		}
	}
}

// Objects returns every object of the bucket: key → ETag.
func (s *Server) Objects(bucket string) map[string]string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string]string{}
	for o := range s.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			s.t.Fatal(o.Err)
		}
		out[o.Key] = strings.Trim(o.ETag, `"`)
	}
	return out
}
