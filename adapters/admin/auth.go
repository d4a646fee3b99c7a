package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"path"
	"strings"
)

// keyChecker checks the admin key of a request in constant time. It keeps
// only the key's SHA-256: comparing two fixed-length digests takes the same
// time whatever the client sent, so neither the key's bytes nor its length
// leak through timing.
type keyChecker struct {
	digest [sha256.Size]byte
}

func newKeyChecker(key string) keyChecker {
	return keyChecker{digest: sha256.Sum256([]byte(key))}
}

// check returns nil when r carries `Authorization: Bearer <admin key>`,
// and the unauthorized problem otherwise. The scheme is case-insensitive
// (RFC 9110 section 11.1).
func (k keyChecker) check(r *http.Request) *Problem {
	header := r.Header.Get("Authorization")
	if header == "" {
		return newProblem(CodeUnauthorized, "send the admin key as Authorization: Bearer <key>")
	}
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return newProblem(CodeUnauthorized, "the Authorization header must use the Bearer scheme")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], k.digest[:]) != 1 {
		return newProblem(CodeUnauthorized, "the admin key does not match")
	}
	return nil
}

// needsKey reports whether a path is under /admin/, where every request
// needs the admin key. The check runs before routing, so a client without
// the key learns nothing about which admin paths exist. ServeHTTP asks it
// of the path as sent and as cleaned: "//admin/x" and "/./admin/x" are
// admin paths to the mux.
func needsKey(path string) bool {
	return path == "/admin" || strings.HasPrefix(path, "/admin/")
}

// isCanonical reports whether the request's path is the one the mux
// routes as it stands, with no empty, . or .. segment to clean away. It
// judges the escaped path, as the mux does.
func isCanonical(r *http.Request) bool {
	escaped := r.URL.EscapedPath()
	return escaped == cleanPath(escaped)
}

// cleanPath is http.ServeMux's cleaning of a path: rooted, with
// path.Clean's rules, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}
