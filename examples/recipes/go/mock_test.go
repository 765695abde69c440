// enos-cert-mock from a Go test: TestMain starts it on a free port and stops it
// after the tests; every test resets it first. The binary is $ENOS_MOCK_BIN, else
// enos-cert-mock on the PATH. Run: go test ./...
//
// Not run by this repository's test command (Go is not installed where it runs).
package recipe

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var mockURL string

func TestMain(m *testing.M) {
	binary := os.Getenv("ENOS_MOCK_BIN")
	if binary == "" {
		binary = "enos-cert-mock"
	}
	cmd := exec.Command(binary, "--port", "0", "--mqtt-tls-port", "0", "--mqtt-port", "0")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	found := make(chan string, 1)
	go func() {
		// Reads the log to the end, so that a full pipe never blocks the mock. The mock
		// binds before it logs `listening on`, so the URL is ready when it appears.
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := listening.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case mockURL = <-found:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		panic("enos-cert-mock did not start")
	}
	code := m.Run()
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	os.Exit(code)
}

// reset puts the mock back to its fixtures; call it first in every test.
func reset(t *testing.T) {
	t.Helper()
	resp, err := http.Post(mockURL+"/__admin/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset answered %d", resp.StatusCode)
	}
}

type envelope struct {
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

func createDevice(t *testing.T) envelope {
	t.Helper()
	body := `{"productKey": "BiDiProd", "deviceName": "Recipe", "timezone": "+08:00", "deviceKey": "recipe-1"}`
	req, _ := http.NewRequest(http.MethodPost,
		mockURL+"/connect-service/v2.1/devices?action=create&orgId=o15444172373271", strings.NewReader(body))
	req.Header.Set("apim-accesstoken", "test")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer envelope
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatal(fmt.Errorf("%w: %s", err, raw))
	}
	return answer
}

// The same device twice: each test passes only because of the reset in between.
func TestCreateADevice(t *testing.T) {
	reset(t)
	if answer := createDevice(t); answer.Code != 0 {
		t.Fatalf("create: %d %s", answer.Code, answer.Msg)
	}
}

func TestCreateItAgainAfterTheReset(t *testing.T) {
	reset(t)
	if answer := createDevice(t); answer.Code != 0 {
		t.Fatalf("create: %d %s", answer.Code, answer.Msg)
	}
}
