// doqclient: a DNS over QUIC (RFC 9250) client for the tests, on quic-go (a
// QUIC implementation independent of the server's ngtcp2).
//
//	doqclient -s ADDR:PORT [-alpn doq] [-ca FILE] [-sni NAME] HEXQUERY...
//
// Each query (DNS wire format, hex) goes on its own stream of one
// connection, all at once; the answers are printed as hex, one line per
// query in the order given. Exit 1 on a connection error (printed on
// stderr); a stream the server reset prints "RESET <code>".
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
)

func main() {
	server := flag.String("s", "", "server address:port")
	alpn := flag.String("alpn", "doq", "ALPN protocol to offer")
	caFile := flag.String("ca", "", "verify the server against this CA (PEM); default: no verification")
	sni := flag.String("sni", "", "server name to verify")
	timeout := flag.Duration("t", 5*time.Second, "overall timeout")
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
	conn, err := quic.DialAddrContext(ctx, *server, tlsConf, &quic.Config{})
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
			st, err := conn.OpenStreamSync(ctx)
			if err != nil {
				results[i] = "ERROR " + err.Error()
				return
			}
			buf := make([]byte, 2+len(msg))
			binary.BigEndian.PutUint16(buf, uint16(len(msg)))
			copy(buf[2:], msg)
			if _, err := st.Write(buf); err != nil {
				results[i] = "ERROR " + err.Error()
				return
			}
			st.Close() // FIN: this stream carries one query
			resp, err := io.ReadAll(st)
			var se *quic.StreamError
			if errors.As(err, &se) {
				results[i] = fmt.Sprintf("RESET %d", se.ErrorCode)
				return
			}
			if err != nil {
				results[i] = "ERROR " + err.Error()
				return
			}
			if len(resp) < 2 || int(binary.BigEndian.Uint16(resp)) != len(resp)-2 {
				results[i] = fmt.Sprintf("ERROR bad framing (%d bytes)", len(resp))
				return
			}
			results[i] = hex.EncodeToString(resp[2:])
		}(i, msg)
	}
	for range args {
		<-done
	}
	for _, r := range results {
		fmt.Println(r)
	}
}
