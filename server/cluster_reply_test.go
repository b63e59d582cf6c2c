package server

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rlserver/rlserver/shard"
)

// recorded returns the reply a real 3-master Redis 7.0.15 cluster gave to
// cmd (tests/testdata/redis-cluster-replies.txt: one line per command,
// the command's Python repr then the reply's), in RESP2 or, after the
// RESP3 marker, RESP3.
func recorded(t *testing.T, cmd string, resp3 bool) string {
	t.Helper()
	f, err := os.Open("../tests/testdata/redis-cluster-replies.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	in3 := false
	for sc.Scan() {
		line := sc.Text()
		if line == "RESP3" {
			in3 = true
			continue
		}
		if in3 != resp3 || !strings.HasPrefix(line, cmd+" b") {
			continue
		}
		q := strings.TrimPrefix(line, cmd+" b")
		s, err := strconv.Unquote(`"` + strings.ReplaceAll(q[1:len(q)-1], `"`, `\"`) + `"`)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatalf("no recording of %s", cmd)
	return ""
}

var redisIDs = regexp.MustCompile(`[0-9a-f]{40}`)

func oneNode(t *testing.T) (*shard.Table, string) {
	id := strings.Repeat("ab", 20)
	return shard.NewTable([]shard.Member{{ID: id, Addr: "127.0.0.1:6380", GossipPort: 16380}}, id, 0, 1), id
}

// The shape of every entry is Redis's: we compare our single-range reply
// with Redis's first range, its numbers and ID replaced by ours.
func TestClusterSlotsShape(t *testing.T) {
	tb, id := oneNode(t)
	for _, resp := range []int{2, 3} {
		rec := recorded(t, "['CLUSTER', 'SLOTS']", resp == 3)
		// Redis's first entry: *3 :0 :5460 *4 $9 ip :port $40 id *0|%0
		m := regexp.MustCompile(`^\*3\r\n(\*3\r\n:0\r\n:5460\r\n\*4\r\n\$9\r\n127\.0\.0\.1\r\n:\d+\r\n\$40\r\n[0-9a-f]{40}\r\n[*%]0\r\n)`).FindStringSubmatch(rec)
		if m == nil {
			t.Fatalf("recording does not parse: %q", rec)
		}
		want := "*1\r\n" + regexp.MustCompile(`:\d+\r\n\$40`).ReplaceAllString(strings.Replace(m[1], ":5460", ":16383", 1), ":6380\r\n$$40")
		want = redisIDs.ReplaceAllString(want, id)
		if got := string(appendClusterSlots(nil, tb, resp)); got != want {
			t.Errorf("RESP%d:\n got %q\nwant %q", resp, got, want)
		}
	}
}

func TestClusterShardsShape(t *testing.T) {
	tb, id := oneNode(t)
	for _, resp := range []int{2, 3} {
		rec := recorded(t, "['CLUSTER', 'SHARDS']", resp == 3)
		head := "*4\r\n"
		if resp == 3 {
			head = "%2\r\n"
		}
		i := strings.Index(rec, head)
		j := strings.Index(rec[i+1:], head)
		first := rec[i : i+1+j]
		first = regexp.MustCompile(`\*2\r\n:\d+\r\n:\d+\r\n`).ReplaceAllString(first, "*2\r\n:0\r\n:16383\r\n")
		first = regexp.MustCompile(`port\r\n:\d+`).ReplaceAllString(first, "port\r\n:6380")
		want := "*1\r\n" + redisIDs.ReplaceAllString(first, id)
		if got := string(appendClusterShards(nil, tb, resp)); got != want {
			t.Errorf("RESP%d:\n got %q\nwant %q", resp, got, want)
		}
	}
}

func TestClusterNodesAndInfo(t *testing.T) {
	tb, id := oneNode(t)
	got := string(clusterNodesText(tb, 1796289985000))
	want := id + " 127.0.0.1:6380@16380 myself,master - 0 1796289985000 1 connected 0-16383\n"
	if got != want {
		t.Errorf("nodes:\n got %q\nwant %q", got, want)
	}
	rec := recorded(t, "['CLUSTER', 'NODES']", false)
	line := regexp.MustCompile(`^[0-9a-f]{40} 127\.0\.0\.1:\d+@\d+ (myself,)?master - 0 \d+ \d+ connected( \d+(-\d+)?)+$`)
	for _, l := range strings.Split(strings.TrimSpace(rec[strings.Index(rec, "\n")+1:]), "\n") {
		if !line.MatchString(l) {
			t.Errorf("Redis line %q does not match our pattern", l)
		}
	}
	if !line.MatchString(strings.TrimSpace(got)) {
		t.Error("our line does not match the pattern")
	}
	info := string(clusterInfoText(tb))
	recInfo := recorded(t, "['CLUSTER', 'INFO']", false)
	for _, l := range strings.Split(strings.TrimSpace(info), "\r\n") {
		k := l[:strings.IndexByte(l, ':')+1]
		if !strings.Contains(recInfo, "\r\n"+k) && !strings.HasPrefix(recInfo[strings.Index(recInfo, "\r\n")+2:], k) {
			t.Errorf("field %q is not one of Redis's", k)
		}
	}
	for _, f := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:1", "cluster_size:1"} {
		if !strings.Contains(info, f+"\r\n") {
			t.Errorf("info lacks %s:\n%s", f, info)
		}
	}
}

func TestRangesCoverEverySlotOnce(t *testing.T) {
	var ms []shard.Member
	for i := range 4 {
		ms = append(ms, shard.Member{ID: strings.Repeat(strconv.Itoa(i), 40), Addr: "127.0.0.1:" + strconv.Itoa(7000+i)})
	}
	tb := shard.NewTable(ms, ms[0].ID, 0, 1)
	next := 0
	for _, r := range ownerRanges(tb) {
		if int(r.start) != next || r.end < r.start {
			t.Fatalf("range %+v after %d", r, next)
		}
		for s := r.start; ; s++ {
			if tb.Owner(s) != r.owner {
				t.Fatalf("slot %d in range of %d owned by %d", s, r.owner, tb.Owner(s))
			}
			if s == r.end {
				break
			}
		}
		next = int(r.end) + 1
	}
	if next != shard.NumSlots {
		t.Fatal("ranges stop early")
	}
}
