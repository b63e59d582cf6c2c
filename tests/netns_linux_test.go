package tests

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

type dialReq struct {
	addr string
	res  chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

// nsDialLoop dials, for each request, a TCP connection from inside the
// network namespace f: the goroutine's thread joins the namespace (a
// socket belongs to the namespace of the thread that creates it) and
// stays locked to it, so the thread ends with the goroutine and never
// serves anything else.
func nsDialLoop(f *os.File, reqs <-chan dialReq, ready chan<- error) {
	runtime.LockOSThread()
	err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		ready <- err
		return
	}
	ready <- nil
	for r := range reqs {
		c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
		r.res <- dialRes{c, err}
	}
}

func exec_LookPath(name string) (string, error) { return exec.LookPath(name) }

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
