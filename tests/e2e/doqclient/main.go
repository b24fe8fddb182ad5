// doqclient: a DNS over QUIC (RFC 9250) client for the tests, on quic-go (a
// QUIC implementation independent of the server's ngtcp2).
//
//	doqclient -s ADDR:PORT [-alpn doq] [-ca FILE] [-sni NAME] [-v] [-wait D] HEXQUERY...
//
// Each query (DNS wire format, hex) goes on its own stream of one
// connection, all at once; the answers are printed as hex, one line per
// query in the order given. Exit 1 on a connection error (printed on
// stderr); a stream the server reset prints "RESET <code>". With -wait,
// the first query is asked again on the same connection D after the
// answers, and its result printed as one more line. -v reports on stderr
// a Retry received during the handshake ("retry").
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	quic "github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/logging"
)

// tracer reports what the tests check about the handshake.
type tracer struct{ logging.NullTracer }
type connTracer struct{ logging.NullConnectionTracer }

func (tracer) TracerForConnection(context.Context, logging.Perspective, logging.ConnectionID) logging.ConnectionTracer {
	return connTracer{}
}
func (connTracer) ReceivedRetry(*logging.Header) { fmt.Fprintln(os.Stderr, "retry") }

// ask sends msg on a new stream of conn and returns the answer as hex, or
// "RESET n" / "ERROR ...".
func ask(ctx context.Context, conn quic.Connection, msg []byte) string {
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return "ERROR " + err.Error()
	}
	buf := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	copy(buf[2:], msg)
	if _, err := st.Write(buf); err != nil {
		return "ERROR " + err.Error()
	}
	st.Close() // FIN: this stream carries one query
	resp, err := io.ReadAll(st)
	var se *quic.StreamError
	if errors.As(err, &se) {
		return fmt.Sprintf("RESET %d", se.ErrorCode)
	}
	if err != nil {
		return "ERROR " + err.Error()
	}
	if len(resp) < 2 || int(binary.BigEndian.Uint16(resp)) != len(resp)-2 {
		return fmt.Sprintf("ERROR bad framing (%d bytes)", len(resp))
	}
	return hex.EncodeToString(resp[2:])
}

func main() {
	server := flag.String("s", "", "server address:port")
	alpn := flag.String("alpn", "doq", "ALPN protocol to offer")
	caFile := flag.String("ca", "", "verify the server against this CA (PEM); default: no verification")
	sni := flag.String("sni", "", "server name to verify")
	timeout := flag.Duration("t", 5*time.Second, "overall timeout")
	verbose := flag.Bool("v", false, "report a Retry on stderr")
	wait := flag.Duration("wait", 0, "then ask the first query again after this long")
	flag.Parse()

	tlsConf := &tls.Config{NextProtos: []string{*alpn}, InsecureSkipVerify: true}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsConf = &tls.Config{NextProtos: []string{*alpn}, RootCAs: pool, ServerName: *sni}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	qconf := &quic.Config{}
	if *verbose {
		qconf.Tracer = tracer{}
	}
	conn, err := quic.DialAddrContext(ctx, *server, tlsConf, qconf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.CloseWithError(0, "")

	args := flag.Args()
	results := make([]string, len(args))
	done := make(chan int, len(args))
	for i, q := range args {
		msg, err := hex.DecodeString(q)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad hex:", err)
			os.Exit(2)
		}
		go func(i int, msg []byte) {
			defer func() { done <- i }()
			results[i] = ask(ctx, conn, msg)
		}(i, msg)
	}
	for range args {
		<-done
	}
	for _, r := range results {
		fmt.Println(r)
	}
	if *wait > 0 && len(args) > 0 {
		time.Sleep(*wait)
		msg, _ := hex.DecodeString(args[0])
		fmt.Println(ask(ctx, conn, msg))
	}
}
