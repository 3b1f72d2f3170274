package conformance_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// TestPythonAPI runs testdata/api_test.py: the Python package's errors
// (NoSuchSegment, Empty, Timeout, WriterLost, LostRecords with exact
// counts, Corrupt), claims and zero-copy views, snapshots and raw values.
func TestPythonAPI(t *testing.T) {
	t.Parallel()
	py := testenv.Python(t)
	dir := cBuild(t)
	prefix := fmt.Sprintf("conformance-%d-py", os.Getpid())
	c := exec.Command(py, filepath.Join(root(t), "clients", "conformance", "testdata", "api_test.py"), prefix)
	c.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root(t), "clients", "python"), "SHMBUF_LIB="+filepath.Join(dir, "libshmbuf.so"))
	out, err := c.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("api_test.py: %v\n%s", err, out)
	}
}
