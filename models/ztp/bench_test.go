package ztp_test

import (
	"testing"

	"github.com/twinflow/twinflow/models/ztp"
)

func BenchmarkParseRender(b *testing.B) {
	for b.Loop() {
		r, err := ztp.ParseRole([]byte(leafRole))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Render(ztp.Device{Name: "leaf-1", Ports: []string{"eth1"}, Index: 1, Role: "leaf"}); err != nil {
			b.Fatal(err)
		}
	}
}
