package pgbaseline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// debianBinaryGlob is where Debian's and Ubuntu's postgresql packages put
// the server binaries, one directory per major version, off PATH.
const debianBinaryGlob = "/usr/lib/postgresql/*/bin"

// serverSettings are appended to postgresql.conf. Durability is the
// default and is spelled out so that nobody reading a result has to
// wonder: every commit waits for its WAL to reach the disk, as every
// ledger commit waits for its Pebble sync. WAL and checkpoint settings
// are left at their defaults. shared_buffers is raised from 128 MB so
// that a 100,000-account run works in memory, and max_connections from
// 100 so that the pool can hold clientsMax connections.
var serverSettings = []string{
	"fsync = on",
	"synchronous_commit = on",
	"full_page_writes = on",
	"shared_buffers = '1GB'",
	"max_connections = " + strconv.Itoa(maxConnections),
	"listen_addresses = '127.0.0.1'",
}

// Server is a throwaway PostgreSQL server: its own cluster in a fresh
// temporary directory, listening on a free port of 127.0.0.1 and on a
// Unix socket in that directory. Close stops it and deletes the directory.
// A Server is safe for concurrent use; Close must be called once.
type Server struct {
	binDir string              // holds initdb, pg_ctl and postgres
	dir    string              // the temporary directory: data/, the log, the socket
	port   int                 // of the TCP listener and the socket file's name
	cred   *syscall.Credential // set when running as root: run as the postgres user
	logf   func(format string, args ...any)
}

// Start creates a cluster with initdb and starts its server, waiting until
// it accepts connections. It takes a few seconds. logf, when not nil,
// receives a line for each step. Without PostgreSQL installed it returns
// an error wrapping ErrNotInstalled.
func Start(ctx context.Context, logf func(format string, args ...any)) (*Server, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	binDir, err := findBinaries(debianBinaryGlob)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgbaseline-")
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir, dir: dir, logf: logf}
	if err := s.init(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		// A start cancelled while pg_ctl waited may have left a server
		// running in the directory about to be deleted.
		_ = s.run(context.WithoutCancel(ctx), "pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// findBinaries returns the bin directory of the highest PostgreSQL version
// installed the Debian way (glob is debianBinaryGlob), or else the
// directory of an initdb on PATH.
func findBinaries(glob string) (string, error) {
	dirs, _ := filepath.Glob(glob)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "initdb"))
		return err != nil
	})
	if len(dirs) > 0 {
		// Versions compare as numbers: 9.6 is older than 15.
		slices.SortFunc(dirs, func(x, y string) int { return compareVersions(versionOf(x), versionOf(y)) })
		return dirs[len(dirs)-1], nil
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", fmt.Errorf("%w: no %s/initdb and no initdb on PATH", ErrNotInstalled, glob)
}

// versionOf extracts "15" from /usr/lib/postgresql/15/bin.
func versionOf(binDir string) string { return filepath.Base(filepath.Dir(binDir)) }

// compareVersions orders dotted version strings numerically, part by part;
// a part that is not a number sorts before every number.
func compareVersions(x, y string) int {
	xs, ys := strings.Split(x, "."), strings.Split(y, ".")
	for i := 0; i < len(xs) || i < len(ys); i++ {
		a, b := -1, -1
		if i < len(xs) {
			if n, err := strconv.Atoi(xs[i]); err == nil {
				a = n
			}
		}
		if i < len(ys) {
			if n, err := strconv.Atoi(ys[i]); err == nil {
				b = n
			}
		}
		if a != b {
			return a - b
		}
	}
	return 0
}

// init runs initdb. initdb refuses to run as root, so as root the
// directory is handed to the postgres user that the package created, and
// initdb and pg_ctl run as that user.
func (s *Server) init(ctx context.Context) error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgbaseline: running as root needs the postgres user to run the server as: %w", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("pgbaseline: postgres user ids: %w", err)
		}
		if err := os.Chown(s.dir, int(uid), int(gid)); err != nil {
			return err
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// --no-sync only skips initdb's own fsync of the template files of a
	// cluster that is deleted after the run; the server's commits are
	// synced (serverSettings).
	s.logf("pgbaseline: initdb in %s with %s", s.dataDir(), s.binDir)
	return s.run(ctx, "initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
}

// start picks a free port, writes the settings and starts the server. A
// port taken by another process between picking and binding fails the
// start; it is retried with a new port.
func (s *Server) start(ctx context.Context) error {
	var err error
	for range serverStartAttemptsMax {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.writeSettings(); err != nil {
			return err
		}
		s.logf("pgbaseline: starting PostgreSQL on 127.0.0.1:%d and %s", s.port, s.dir)
		err = s.run(ctx, "pg_ctl", "-D", s.dataDir(), "-l", s.logPath(), "-w", "-t", "60", "start")
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w\nserver log:\n%s", err, s.logTail())
}

// writeSettings appends the settings to postgresql.conf. A later line
// wins over an earlier one, so a retried start only appends again.
func (s *Server) writeSettings() error {
	lines := slices.Clone(serverSettings)
	lines = append(lines,
		"port = "+strconv.Itoa(s.port),
		"unix_socket_directories = '"+s.dir+"'")
	f, err := os.OpenFile(filepath.Join(s.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("\n# pgbaseline\n" + strings.Join(lines, "\n") + "\n")
	return errors.Join(err, f.Close())
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// run runs one of the server's programs as the server's user. Its working
// directory is the temporary directory, which that user can enter.
func (s *Server) run(ctx context.Context, program string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, program), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgbaseline: %s: %w\n%s", program, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// logTail returns the end of the server log, for errors.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const tailBytesMax = 4096
	if len(b) > tailBytesMax {
		b = b[len(b)-tailBytesMax:]
	}
	return string(b)
}

// URL is the connection string of the server's postgres database as the
// postgres superuser, through the Unix socket: the fastest way in, so
// that the baseline pays no TCP cost the ledger does not pay either.
func (s *Server) URL() string { return s.DatabaseURL("postgres") }

// DatabaseURL is like URL for another database of the server.
func (s *Server) DatabaseURL(database string) string {
	q := url.Values{"host": {s.dir}, "port": {strconv.Itoa(s.port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "", Path: "/" + database, RawQuery: q.Encode()}).String()
}

// TCPAddress is the server's TCP listener, for psql -h while a run goes.
func (s *Server) TCPAddress() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// CreateDatabase creates an empty database and returns its URL, so that
// several runs can share one server and still each start from nothing.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		return "", fmt.Errorf("pgbaseline: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgbaseline: create database %q: %w", name, err)
	}
	return s.DatabaseURL(name), nil
}

// Close stops the server (fast shutdown: open sessions are ended) and
// deletes its directory.
func (s *Server) Close() error {
	s.logf("pgbaseline: stopping PostgreSQL on port %d", s.port)
	err := s.run(context.Background(), "pg_ctl", "-D", s.dataDir(), "-m", "fast", "-w", "-t", "60", "stop")
	return errors.Join(err, os.RemoveAll(s.dir))
}
