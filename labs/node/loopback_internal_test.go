package node

import (
	"net"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ServeLoopback is serveLoopback for the external tests and benchmarks.
var ServeLoopback = serveLoopback

// serveLoopback serves s over gRPC (plaintext) on a loopback port until the test ends
// and returns a client connected to it.
func serveLoopback(tb testing.TB, s *Server) gpb.GNMIClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs := grpc.NewServer()
	s.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	tb.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return gpb.NewGNMIClient(conn)
}
