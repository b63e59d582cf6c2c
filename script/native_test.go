package script

import (
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The differential tests run each native function and the VM side by side
// on identical model keyspaces (modelHost) over random arguments, stored
// values, TIME readings and failing or oddly answering commands, and
// require byte-identical replies, the same writes in the same order and
// the same final keyspace.

// libraryScript reads a script of bench/lua and checks that its SHA1 has
// a native function.
func libraryScript(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile("../bench/lua/" + name + ".lua")
	if err != nil {
		t.Fatal(err)
	}
	if nativeScripts[SHA1Hex(body)] == nil {
		t.Fatalf("bench/lua/%s.lua (sha %s) has no native function: not the library's exact script?", name, SHA1Hex(body))
	}
	return body
}

var nativeLibraries = []string{"redis_rate", "rate_limiter_flexible", "rate_limit_redis"}

// modelVal is one key: a string (kind 's') or a value of another type
// ('z', which string commands refuse), with an absolute expiry in ms (0:
// none).
type modelVal struct {
	kind byte
	v    string
	exp  int64
}

// modelHost is a small keyspace with the commands the library scripts
// send (TIME, GET, SET [EX|PX] [NX], INCR, INCRBY, PTTL, EXPIRE), answering
// as Redis does in the cases that matter here, and with rules that make a
// command fail or answer a reply of another type. Its behaviour depends
// only on its state, so two copies answer the same calls the same way.
type modelHost struct {
	keys     map[string]modelVal
	nowMs    int64
	timeResp string            // TIME's reply
	fail     map[string]string // command -> error line it answers...
	failOnce bool              // ...only once the keyspace was written to
	odd      map[string]string // command -> reply given after doing its work
	dirty    bool
	writes   []string
	calls    int
}

func (h *modelHost) clone() *modelHost {
	c := *h
	c.keys = maps.Clone(h.keys)
	c.writes = nil
	return &c
}

func (h *modelHost) Tick()                                   {}
func (h *modelHost) ACLCheck([][]byte) (allowed, known bool) { return true, true }

func (h *modelHost) live(k string) (modelVal, bool) {
	v, ok := h.keys[k]
	if ok && v.exp != 0 && v.exp <= h.nowMs {
		delete(h.keys, k)
		return v, false
	}
	return v, ok
}

func (h *modelHost) write(args [][]byte) {
	h.dirty = true
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	h.writes = append(h.writes, strings.Join(parts, " "))
}

func strictInt(s []byte) (int64, bool) {
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) || s[0] == '+' || (len(s) > 1 && s[0] == '-' && s[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	return n, err == nil
}

const (
	errNotInt    = "-ERR value is not an integer or out of range\r\n"
	errWrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	errSyntax    = "-ERR syntax error\r\n"
)

func (h *modelHost) Call(args [][]byte, resp int, out []byte) []byte {
	h.calls++
	name := strings.ToLower(string(args[0]))
	if e, ok := h.fail[name]; ok && (!h.failOnce || h.dirty) {
		return append(out, "-"+e+"\r\n"...)
	}
	r := h.run(name, args)
	if odd, ok := h.odd[name]; ok && r[0] != '-' {
		r = odd
	}
	return append(out, r...)
}

func (h *modelHost) run(name string, args [][]byte) string {
	wrongArgs := "-ERR Wrong number of args calling Redis command from script\r\n"
	switch name {
	case "time":
		if len(args) != 1 {
			return wrongArgs
		}
		return h.timeResp
	case "get":
		if len(args) != 2 {
			return wrongArgs
		}
		v, ok := h.live(string(args[1]))
		switch {
		case !ok:
			return "$-1\r\n"
		case v.kind != 's':
			return errWrongType
		}
		return "$" + strconv.Itoa(len(v.v)) + "\r\n" + v.v + "\r\n"
	case "set":
		if len(args) < 3 {
			return wrongArgs
		}
		var exp int64
		nx := false
		for i := 3; i < len(args); i++ {
			switch o := strings.ToUpper(string(args[i])); {
			case o == "NX":
				nx = true
			case (o == "EX" || o == "PX") && i+1 < len(args):
				n, ok := strictInt(args[i+1])
				if !ok {
					return errNotInt
				}
				if n <= 0 {
					return "-ERR invalid expire time in 'set' command\r\n"
				}
				if o == "EX" {
					n *= 1000
				}
				exp = h.nowMs + n
				i++
			default:
				return errSyntax
			}
		}
		if _, ok := h.live(string(args[1])); ok && nx {
			return "$-1\r\n"
		}
		h.keys[string(args[1])] = modelVal{kind: 's', v: string(args[2]), exp: exp}
		h.write(args)
		return "+OK\r\n"
	case "incr", "incrby":
		by := int64(1)
		if name == "incrby" {
			if len(args) != 3 {
				return wrongArgs
			}
			n, ok := strictInt(args[2])
			if !ok {
				return errNotInt
			}
			by = n
		} else if len(args) != 2 {
			return wrongArgs
		}
		v, ok := h.live(string(args[1]))
		var cur int64
		if ok {
			if v.kind != 's' {
				return errWrongType
			}
			if cur, ok = strictInt([]byte(v.v)); !ok {
				return errNotInt
			}
		} else {
			v = modelVal{kind: 's'}
		}
		sum := cur + by
		if (by > 0 && sum < cur) || (by < 0 && sum > cur) {
			return "-ERR increment or decrement would overflow\r\n"
		}
		v.v = strconv.FormatInt(sum, 10)
		h.keys[string(args[1])] = v
		h.write(args)
		return ":" + v.v + "\r\n"
	case "pttl":
		if len(args) != 2 {
			return wrongArgs
		}
		v, ok := h.live(string(args[1]))
		switch {
		case !ok:
			return ":-2\r\n"
		case v.exp == 0:
			return ":-1\r\n"
		}
		return ":" + strconv.FormatInt(v.exp-h.nowMs, 10) + "\r\n"
	case "expire":
		if len(args) != 3 {
			return wrongArgs
		}
		n, ok := strictInt(args[2])
		if !ok {
			return errNotInt
		}
		v, ok := h.live(string(args[1]))
		if !ok {
			return ":0\r\n"
		}
		if n <= 0 {
			delete(h.keys, string(args[1]))
		} else {
			v.exp = h.nowMs + n*1000
			h.keys[string(args[1])] = v
		}
		h.write(args)
		return ":1\r\n"
	}
	return "-ERR Unknown Redis command called from script\r\n"
}

// Random inputs, weighted towards what the libraries send and towards the
// edges of plainNumber and plainFloat.
var oddNumbers = []string{"0", "1", "10", "5", "-1", "-5", "60000", "1.5", "0.5", "2.25", "100", "1000000",
	"007", "0x10", " 5", "5 ", "1e3", "-0", "-0.0", "0.0", "inf", "nan", "abc", "", "9223372036854775807",
	"9223372036854775808", "-9223372036854775808", "99999999999999999999", "1.", "-.5", "+5", "3600", "86400",
	"4294967296", "1e308", "1e309", "0.000001", "123456789012345678901234", "1_0", "0b1", "0o7", "\t7"}

func randNumber(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0, 1:
		return oddNumbers[r.IntN(len(oddNumbers))]
	case 2:
		return strconv.Itoa(r.IntN(20) - 5)
	case 3:
		return strconv.Itoa(r.IntN(10_000_000))
	case 4:
		return strconv.FormatFloat(r.Float64()*1000, 'f', r.IntN(6), 64)
	}
	return strconv.Itoa(r.IntN(100) + 1)
}

func randStored(r *rand.Rand, nowSec float64) string {
	switch r.IntN(7) {
	case 0:
		return strconv.Itoa(r.IntN(1000) - 10)
	case 1:
		return strconv.FormatFloat(nowSec+r.Float64()*20-10, 'g', 17, 64)
	case 2:
		return strconv.FormatFloat(nowSec+float64(r.IntN(20))-10, 'f', -1, 64)
	case 3:
		return randNumber(r)
	case 4:
		return "9223372036854775807"
	case 5:
		return strconv.FormatFloat(nowSec, 'e', 16, 64)
	}
	return []string{"x", "1e400", "-1e5", "0x1p3", " 12", "12abc", ""}[r.IntN(7)]
}

func bulkStr(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// randTrial builds a keyspace, a TIME reading, failure rules and a request
// for script name.
func randTrial(r *rand.Rand, name string) (*modelHost, [][]byte, [][]byte, int) {
	sec := int64(1483228800 + r.IntN(1_000_000_000))
	usec := int64(r.IntN(1_000_000))
	h := &modelHost{keys: map[string]modelVal{}, nowMs: sec*1000 + usec/1000}
	h.timeResp = "*2\r\n" + bulkStr(strconv.FormatInt(sec, 10)) + bulkStr(strconv.FormatInt(usec, 10))
	switch r.IntN(20) {
	case 0:
		h.timeResp = "*2\r\n" + bulkStr("0"+strconv.FormatInt(sec, 10)) + bulkStr(strconv.FormatInt(usec, 10))
	case 1:
		h.timeResp = "*2\r\n:" + strconv.FormatInt(sec, 10) + "\r\n:" + strconv.FormatInt(usec, 10) + "\r\n"
	case 2:
		h.timeResp = "*1\r\n" + bulkStr(strconv.FormatInt(sec, 10))
	}
	nowSec := float64(sec-1483228800) + float64(usec)/1e6
	for _, k := range []string{"k", "k2"} {
		switch r.IntN(6) {
		case 0, 1:
			// absent
		case 2:
			h.keys[k] = modelVal{kind: 'z', v: "zset"}
		default:
			v := modelVal{kind: 's', v: randStored(r, nowSec)}
			switch r.IntN(4) {
			case 0:
				v.exp = h.nowMs + int64(r.IntN(100_000)) + 1
			case 1:
				v.exp = h.nowMs - int64(r.IntN(1000)) // expired
			}
			h.keys[k] = v
		}
	}
	cmds := []string{"time", "get", "set", "incr", "incrby", "pttl", "expire"}
	if r.IntN(3) == 0 {
		errs := []string{"OOM command not allowed when used memory > 'maxmemory'.", "ERR The user executing the script can't run this command or subcommand",
			"WRONGTYPE Operation against a key holding the wrong kind of value", "ERR x\r\ny", "BUSYKEY z", "ERR"}
		h.fail = map[string]string{cmds[r.IntN(len(cmds))]: errs[r.IntN(len(errs))]}
		h.failOnce = r.IntN(2) == 0
	}
	if r.IntN(12) == 0 {
		odds := []string{"$3\r\nabc\r\n", "$-1\r\n", "+OK\r\n", "*2\r\n:1\r\n$-1\r\n", ":5\r\n", "*-1\r\n", ":-1\r\n",
			"*3\r\n+a\r\n-ERR in\r\n*1\r\n:2\r\n", "$2\r\n-1\r\n", ":9007199254740993\r\n", ":0\r\n"}
		h.odd = map[string]string{cmds[r.IntN(len(cmds))]: odds[r.IntN(len(odds))]}
	}
	var keys [][]byte
	switch r.IntN(12) {
	case 0:
	case 1:
		keys = [][]byte{[]byte("k"), []byte("k2")}
	default:
		keys = [][]byte{[]byte("k")}
	}
	nargs := map[string]int{"redis_rate": 4, "rate_limiter_flexible": 2, "rate_limit_redis": 1}[name]
	if r.IntN(12) == 0 {
		nargs = r.IntN(6)
	}
	args := make([][]byte, nargs)
	for i := range args {
		args[i] = []byte(randNumber(r))
	}
	if name == "redis_rate" && nargs <= 4 && r.IntN(3) > 0 {
		// Mostly sensible limits, as the library sends them.
		args = [][]byte{[]byte(strconv.Itoa(r.IntN(20) + 1)), []byte(strconv.Itoa(r.IntN(100) + 1)),
			[]byte(strconv.Itoa(r.IntN(60) + 1)), []byte(strconv.Itoa(r.IntN(3)))}[:nargs]
	}
	return h, keys, args, 2 + r.IntN(2)
}

// diffNative runs one trial on both engines and reports a difference.
func diffNative(t testing.TB, native, vm *Engine, sha []byte, h *modelHost, keys, args [][]byte, resp int) {
	t.Helper()
	ha, hb := h.clone(), h.clone()
	got := native.Eval(&Request{SHA: sha, Keys: keys, Args: args, Resp: resp, Host: ha}, nil)
	want := vm.Eval(&Request{SHA: sha, Keys: keys, Args: args, Resp: resp, Host: hb}, nil)
	if string(got) != string(want) || !slices.Equal(ha.writes, hb.writes) || !maps.Equal(ha.keys, hb.keys) {
		t.Fatalf("native and VM differ\nkeys %q args %q resp %d\nstate %+v\ntime %q fail %q (after write %v) odd %q\nnative: %q\n        writes %q\n        state %+v\nVM:     %q\n        writes %q\n        state %+v",
			keys, args, resp, h.keys, h.timeResp, h.fail, h.failOnce, h.odd, got, ha.writes, ha.keys, want, hb.writes, hb.keys)
	}
}

func TestNativeMatchesVM(t *testing.T) {
	t.Parallel()
	trials := 4000
	if testing.Short() {
		trials = 500
	}
	native, vm := New(Config{}), New(Config{NoNative: true})
	for _, name := range nativeLibraries {
		t.Run(name, func(t *testing.T) {
			body := libraryScript(t, name)
			sha := []byte(SHA1Hex(body))
			for _, e := range []*Engine{native, vm} {
				if _, err := e.Load(body); err != nil {
					t.Fatal(err)
				}
			}
			r := rand.New(rand.NewPCG(uint64(len(name)), 14))
			runs0, fb0 := native.NativeStats()
			for range trials {
				h, keys, args, resp := randTrial(r, name)
				diffNative(t, native, vm, sha, h, keys, args, resp)
			}
			runs, fb := native.NativeStats()
			runs, fb = runs-runs0, fb-fb0
			t.Logf("%d trials: %d native, %d fell back to the VM", trials, runs, fb)
			if runs < uint64(trials)/4 || fb == 0 {
				t.Fatalf("trials too one-sided to compare: %d native, %d fallbacks", runs, fb)
			}
			if r, _ := vm.NativeStats(); r != 0 {
				t.Fatal("NoNative engine ran natively")
			}
		})
	}
}

// FuzzNativeMatchesVM is TestNativeMatchesVM driven by the fuzzer's seeds
// (bench/lua_native_fuzz.sh runs it for long).
func FuzzNativeMatchesVM(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, uint8(i))
	}
	native, vm := New(Config{}), New(Config{NoNative: true})
	var shas [][]byte
	for _, name := range nativeLibraries {
		body := libraryScript(f, name)
		for _, e := range []*Engine{native, vm} {
			if _, err := e.Load(body); err != nil {
				f.Fatal(err)
			}
		}
		shas = append(shas, []byte(SHA1Hex(body)))
	}
	f.Fuzz(func(t *testing.T, seed uint64, which uint8) {
		i := int(which) % len(nativeLibraries)
		r := rand.New(rand.NewPCG(seed, uint64(which)))
		h, keys, args, resp := randTrial(r, nativeLibraries[i])
		diffNative(t, native, vm, shas[i], h, keys, args, resp)
	})
}
