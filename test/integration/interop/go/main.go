// Interop client for Spindle's Workload API written with the official go-spiffe SDK. Each
// subcommand prints JSON lines on stdout that test/integration/interop/interop.test.ts asserts.
// The Workload API address comes from SPIFFE_ENDPOINT_SOCKET, as in any real workload.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

func fail(what string, err error) {
	emit(map[string]any{"event": "error", "what": what, "error": err.Error()})
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: interop fetch|watch-bundles|watch-x509|watch-federated|mtls-server|mtls-client [flags]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch os.Args[1] {
	case "fetch":
		fetch(ctx, os.Args[2:])
	case "watch-bundles":
		watchBundles(ctx, os.Args[2:])
	case "watch-x509":
		watchX509(os.Args[2:])
	case "watch-federated":
		watchFederated(os.Args[2:])
	case "mtls-server":
		mtlsServer(ctx, os.Args[2:])
	case "mtls-client":
		mtlsClient(ctx, os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

// fetch: X509Source (SVID verified against its own bundle), JWTSource (fetch, then validate both
// locally with the JWT bundles and remotely with ValidateJWTSVID).
func fetch(ctx context.Context, args []string) {
	fs := flag.NewFlagSet("fetch", flag.ExitOnError)
	audience := fs.String("audience", "interop", "JWT audience")
	_ = fs.Parse(args)

	x509Source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		fail("x509source", err)
	}
	defer x509Source.Close()
	svid, err := x509Source.GetX509SVID()
	if err != nil {
		fail("x509svid", err)
	}
	id, chains, err := x509svid.Verify(svid.Certificates, x509Source)
	if err != nil {
		fail("x509verify", err)
	}
	emit(map[string]any{"event": "x509", "spiffe_id": svid.ID.String(), "verified_id": id.String(), "chain_len": len(svid.Certificates), "verified_chain_len": len(chains[0]), "hint": svid.Hint})

	jwtSource, err := workloadapi.NewJWTSource(ctx)
	if err != nil {
		fail("jwtsource", err)
	}
	defer jwtSource.Close()
	jwt, err := jwtSource.FetchJWTSVID(ctx, jwtsvid.Params{Audience: *audience})
	if err != nil {
		fail("jwtsvid", err)
	}
	token := jwt.Marshal()
	local, err := jwtsvid.ParseAndValidate(token, jwtSource, []string{*audience})
	if err != nil {
		fail("jwtvalidate-local", err)
	}
	remote, err := workloadapi.ValidateJWTSVID(ctx, token, *audience)
	if err != nil {
		fail("jwtvalidate-remote", err)
	}
	_, wrongAud := workloadapi.ValidateJWTSVID(ctx, token, "not-"+*audience)
	emit(map[string]any{"event": "jwt", "spiffe_id": jwt.ID.String(), "local_sub": local.ID.String(), "remote_sub": remote.ID.String(), "audience": local.Audience, "wrong_audience_error": fmt.Sprint(wrongAud)})
}

type bundleWatcher struct {
	updates chan []string
}

func (w bundleWatcher) OnX509BundlesUpdate(set *x509bundle.Set) {
	var out []string
	for _, b := range set.Bundles() {
		out = append(out, fmt.Sprintf("%s=%d", b.TrustDomain().IDString(), len(b.X509Authorities())))
	}
	sort.Strings(out)
	w.updates <- out
}

func (w bundleWatcher) OnX509BundlesWatchError(err error) {
	emit(map[string]any{"event": "watch-error", "error": err.Error()})
}

// watch-bundles: prints each X.509 bundle set received until `count` updates, plus the JWT bundles once.
func watchBundles(ctx context.Context, args []string) {
	fs := flag.NewFlagSet("watch-bundles", flag.ExitOnError)
	count := fs.Int("count", 2, "updates to wait for")
	_ = fs.Parse(args)

	jwtBundles, err := workloadapi.FetchJWTBundles(ctx)
	if err != nil {
		fail("jwtbundles", err)
	}
	var jwt []string
	for _, b := range jwtBundles.Bundles() {
		jwt = append(jwt, fmt.Sprintf("%s=%d", b.TrustDomain().IDString(), len(b.JWTAuthorities())))
	}
	sort.Strings(jwt)
	emit(map[string]any{"event": "jwt-bundles", "bundles": jwt})

	client, err := workloadapi.New(ctx)
	if err != nil {
		fail("client", err)
	}
	defer client.Close()
	watchCtx, stop := context.WithCancel(ctx)
	w := bundleWatcher{updates: make(chan []string, 16)}
	done := make(chan error, 1)
	go func() { done <- client.WatchX509Bundles(watchCtx, w) }()
	for i := 0; i < *count; i++ {
		select {
		case u := <-w.updates:
			emit(map[string]any{"event": "x509-bundles", "n": i + 1, "bundles": u})
		case <-ctx.Done():
			fail("watch", ctx.Err())
		}
	}
	stop()
	<-done
}

// mtls-server: accepts TLS connections, requiring a client SVID with the allowed ID, and answers
// each with one line naming the client.
func mtlsServer(ctx context.Context, args []string) {
	fs := flag.NewFlagSet("mtls-server", flag.ExitOnError)
	allow := fs.String("allow", "", "SPIFFE ID allowed to connect")
	allowMemberOf := fs.String("allow-member-of", "", "trust domain whose members may connect (instead of -allow)")
	_ = fs.Parse(args)
	authorizer := memberOrID(*allowMemberOf, *allow)

	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		fail("x509source", err)
	}
	defer source.Close()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", tlsconfig.MTLSServerConfig(source, source, authorizer))
	if err != nil {
		fail("listen", err)
	}
	emit(map[string]any{"event": "listening", "addr": listener.Addr().String()})
	for {
		conn, err := listener.Accept()
		if err != nil {
			fail("accept", err)
		}
		go func() {
			defer conn.Close()
			tlsConn := conn.(*tls.Conn)
			if err := tlsConn.Handshake(); err != nil {
				emit(map[string]any{"event": "refused", "error": err.Error()})
				return
			}
			peer, err := x509svid.IDFromCert(tlsConn.ConnectionState().PeerCertificates[0])
			if err != nil {
				emit(map[string]any{"event": "refused", "error": err.Error()})
				return
			}
			line, _ := bufio.NewReader(tlsConn).ReadString('\n')
			fmt.Fprintf(tlsConn, "hello %s, you said %s\n", peer, strings.TrimSpace(line))
			emit(map[string]any{"event": "served", "peer": peer.String()})
		}()
	}
}

// mtls-client: connects with its own SVID, accepting only the expected server ID.
func mtlsClient(ctx context.Context, args []string) {
	fs := flag.NewFlagSet("mtls-client", flag.ExitOnError)
	addr := fs.String("connect", "", "host:port")
	server := fs.String("server-id", "", "expected server SPIFFE ID")
	serverMemberOf := fs.String("server-member-of", "", "trust domain the server must belong to (instead of -server-id)")
	_ = fs.Parse(args)

	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		fail("x509source", err)
	}
	defer source.Close()
	conn, err := tls.Dial("tcp", *addr, tlsconfig.MTLSClientConfig(source, source, memberOrID(*serverMemberOf, *server)))
	if err != nil {
		fail("dial", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	svid, _ := source.GetX509SVID()
	if _, err := fmt.Fprintf(conn, "ping from %s\n", svid.ID); err != nil {
		fail("write", err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fail("read", err)
	}
	emit(map[string]any{"event": "reply", "reply": strings.TrimSpace(reply)})
}

type x509Watcher struct{}

func (x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	svid := c.DefaultSVID()
	emit(map[string]any{"event": "x509-update", "spiffe_id": svid.ID.String(), "serial": svid.Certificates[0].SerialNumber.String(), "at_ms": time.Now().UnixMilli()})
}

func (x509Watcher) OnX509ContextWatchError(err error) {
	emit(map[string]any{"event": "watch-error", "error": err.Error(), "at_ms": time.Now().UnixMilli()})
}

// watch-x509: one go-spiffe client watching X.509 contexts for `duration`, printing every update
// and every watch error (the client reconnects on its own, with its own backoff).
func watchX509(args []string) {
	fs := flag.NewFlagSet("watch-x509", flag.ExitOnError)
	duration := fs.Duration("duration", 90*time.Second, "how long to watch")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	client, err := workloadapi.New(ctx)
	if err != nil {
		fail("client", err)
	}
	defer client.Close()
	_ = client.WatchX509Context(ctx, x509Watcher{})
}

// memberOrID: AuthorizeMemberOf(td) when a trust domain is given, else AuthorizeID(id).
func memberOrID(td string, id string) tlsconfig.Authorizer {
	if td != "" {
		return tlsconfig.AuthorizeMemberOf(spiffeid.RequireTrustDomainFromString(td))
	}
	return tlsconfig.AuthorizeID(spiffeid.RequireFromString(id))
}

func x509Fingerprints(b *x509bundle.Bundle) []string {
	out := []string{}
	for _, c := range b.X509Authorities() {
		sum := sha256.Sum256(c.Raw)
		out = append(out, hex.EncodeToString(sum[:]))
	}
	sort.Strings(out)
	return out
}

type federatedWatcher struct{ td spiffeid.TrustDomain }

func (w federatedWatcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	fps := []string{}
	if b, ok := c.Bundles.Get(w.td); ok {
		fps = x509Fingerprints(b)
	}
	emit(map[string]any{"event": "x509svid-bundle", "td": w.td.String(), "fingerprints": fps, "at_ms": time.Now().UnixMilli()})
}

func (w federatedWatcher) OnX509ContextWatchError(err error) {
	emit(map[string]any{"event": "watch-error", "stream": "x509svid", "error": err.Error(), "at_ms": time.Now().UnixMilli()})
}

func (w federatedWatcher) OnX509BundlesUpdate(set *x509bundle.Set) {
	fps := []string{}
	if b, ok := set.Get(w.td); ok {
		fps = x509Fingerprints(b)
	}
	emit(map[string]any{"event": "x509-bundle", "td": w.td.String(), "fingerprints": fps, "at_ms": time.Now().UnixMilli()})
}

func (w federatedWatcher) OnX509BundlesWatchError(err error) {
	emit(map[string]any{"event": "watch-error", "stream": "x509bundles", "error": err.Error(), "at_ms": time.Now().UnixMilli()})
}

func (w federatedWatcher) OnJWTBundlesUpdate(set *jwtbundle.Set) {
	kids := []string{}
	if b, ok := set.Get(w.td); ok {
		for kid := range b.JWTAuthorities() {
			kids = append(kids, kid)
		}
	}
	sort.Strings(kids)
	emit(map[string]any{"event": "jwt-bundle", "td": w.td.String(), "kids": kids, "at_ms": time.Now().UnixMilli()})
}

func (w federatedWatcher) OnJWTBundlesWatchError(err error) {
	emit(map[string]any{"event": "watch-error", "stream": "jwtbundles", "error": err.Error(), "at_ms": time.Now().UnixMilli()})
}

// watch-federated: one client holding three streams open for `duration` (FetchX509SVID,
// FetchX509Bundles, FetchJWTBundles), printing on every update the one trust domain's X.509
// authorities (SHA-256 of their DER) or JWT key IDs, and every watch error (go-spiffe would
// reconnect after one; the caller asserts there is none).
func watchFederated(args []string) {
	fs := flag.NewFlagSet("watch-federated", flag.ExitOnError)
	td := fs.String("td", "", "trust domain to report")
	duration := fs.Duration("duration", 120*time.Second, "how long to watch")
	_ = fs.Parse(args)
	w := federatedWatcher{td: spiffeid.RequireTrustDomainFromString(*td)}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	client, err := workloadapi.New(ctx)
	if err != nil {
		fail("client", err)
	}
	defer client.Close()
	done := make(chan struct{}, 3)
	go func() { _ = client.WatchX509Context(ctx, w); done <- struct{}{} }()
	go func() { _ = client.WatchX509Bundles(ctx, w); done <- struct{}{} }()
	go func() { _ = client.WatchJWTBundles(ctx, w); done <- struct{}{} }()
	for i := 0; i < 3; i++ {
		<-done
	}
}
