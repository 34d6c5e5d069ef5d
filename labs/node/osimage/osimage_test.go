package osimage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/labs/node/osimage"
)

// REQ-AUTO-06: a sim image carries a version and a checksum; a damaged image is refused.
func TestBuildParse(t *testing.T) {
	img, err := osimage.Build("2.0.1", []byte("payload"), osimage.InjectBootOld)
	if err != nil {
		t.Fatal(err)
	}
	h, err := osimage.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != "2.0.1" || h.Inject != osimage.InjectBootOld {
		t.Fatalf("header %+v", h)
	}
	bad := append([]byte{}, img...)
	bad[len(bad)-1] ^= 1
	if _, err := osimage.Parse(bad); !errors.Is(err, osimage.ErrIntegrity) {
		t.Fatalf("altered payload: err %v, want ErrIntegrity", err)
	}
	if _, err := osimage.Parse(img[:len(img)-2]); !errors.Is(err, osimage.ErrIntegrity) {
		t.Fatalf("truncated payload: err %v, want ErrIntegrity", err)
	}
}

func TestRejects(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for name, in := range map[string]string{
		"empty":         "",
		"no newline":    osimage.Magic + " version=1 sha256=" + sum,
		"magic":         "OTHER version=1 sha256=" + sum + "\n",
		"no version":    osimage.Magic + " sha256=" + sum + "\n",
		"path version":  osimage.Magic + " version=../x sha256=" + sum + "\n",
		"slash":         osimage.Magic + " version=a/b sha256=" + sum + "\n",
		"short sum":     osimage.Magic + " version=1 sha256=abc\n",
		"upper sum":     osimage.Magic + " version=1 sha256=" + strings.Repeat("A", 64) + "\n",
		"unknown field": osimage.Magic + " version=1 sha256=" + sum + " x=1\n",
		"dup field":     osimage.Magic + " version=1 version=2 sha256=" + sum + "\n",
		"bad inject":    osimage.Magic + " version=1 sha256=" + sum + " inject=boom\n",
		"long header":   osimage.Magic + " version=1 sha256=" + sum + strings.Repeat(" ", 600) + "\n",
		"long version":  osimage.Magic + " version=" + strings.Repeat("1", 65) + " sha256=" + sum + "\n",
	} {
		if _, err := osimage.Parse([]byte(in)); !errors.Is(err, osimage.ErrParse) {
			t.Errorf("%s: err %v, want ErrParse", name, err)
		}
	}
	if _, err := osimage.Build("", nil, ""); !errors.Is(err, osimage.ErrParse) {
		t.Errorf("empty version built: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := osimage.Build("1.0", []byte("x"), "")
	f.Add(good)
	f.Add([]byte(osimage.Magic + " version=1 sha256=00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := osimage.Parse(data)
		if err != nil {
			return
		}
		if osimage.CheckVersion(h.Version) != nil || len(h.SHA256) != 64 {
			t.Fatalf("accepted header %+v", h)
		}
		// Round trip: the payload after the header rebuilds the same image.
		i := strings.IndexByte(string(data), '\n')
		again, err := osimage.Build(h.Version, data[i+1:], h.Inject)
		if err != nil {
			t.Fatal(err)
		}
		if h2, err := osimage.Parse(again); err != nil || h2 != h {
			t.Fatalf("rebuild: %+v %v, want %+v", h2, err, h)
		}
	})
}
