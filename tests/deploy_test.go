package tests

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The files in deploy/ are checked here: alert rules by promtool, the
// Kubernetes manifests, Dockerfile and systemd unit parsed and held to
// what rlserver really accepts (its --help).

// helpFlags returns the flags `rlserver --help` lists.
func helpFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(binary(t), "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("rlserver --help lists %d flags:\n%s", len(flags), out)
	}
	return flags
}

// pendingFlags are cluster flags DESIGN.md §5 and §8 name that the
// manifests already use; each must disappear from this list once
// cmd/rlserver accepts it (the test says so).
var pendingFlags = map[string]bool{}

// checkFlags fails on any --flag or RLSERVER_ variable rlserver does not
// accept.
func checkFlags(t *testing.T, where string, args []string, env []string) {
	t.Helper()
	flags := helpFlags(t)
	check := func(name string) {
		switch {
		case flags[name] && pendingFlags[name]:
			t.Errorf("%s: --%s is accepted now: remove it from pendingFlags", where, name)
		case !flags[name] && !pendingFlags[name]:
			t.Errorf("%s: rlserver has no flag --%s", where, name)
		}
	}
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			check(name)
		}
	}
	for _, e := range env {
		if name, ok := strings.CutPrefix(e, "RLSERVER_"); ok {
			check(strings.ReplaceAll(strings.ToLower(name), "_", "-"))
		}
	}
}

func TestAlertRulesPromtool(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type statefulSetSpec struct {
	ServiceName string `yaml:"serviceName"`
	Replicas    int    `yaml:"replicas"`
	Selector    struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			SecurityContext struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    int  `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []struct {
				Args []string `yaml:"args"`
				Env  []struct {
					Name string `yaml:"name"`
				} `yaml:"env"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				StartupProbe   *probe `yaml:"startupProbe"`
				LivenessProbe  *probe `yaml:"livenessProbe"`
				ReadinessProbe *probe `yaml:"readinessProbe"`
				Resources      struct {
					Requests map[string]string `yaml:"requests"`
					Limits   map[string]string `yaml:"limits"`
				} `yaml:"resources"`
				VolumeMounts []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
}

type serviceSpec struct {
	ClusterIP                string            `yaml:"clusterIP"`
	PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
	Selector                 map[string]string `yaml:"selector"`
	Ports                    []struct {
		Name string `yaml:"name"`
		Port int    `yaml:"port"`
	} `yaml:"ports"`
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../deploy/kubernetes/rlserver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	byKind := map[string][]k8sObject{}
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	if len(byKind["StatefulSet"]) != 1 || len(byKind["Service"]) != 2 || len(byKind["PodDisruptionBudget"]) != 1 {
		t.Fatalf("want a StatefulSet, two Services and a PodDisruptionBudget; got %v", byKind)
	}
	var sts statefulSetSpec
	if err := byKind["StatefulSet"][0].Spec.Decode(&sts); err != nil {
		t.Fatal(err)
	}
	pod := sts.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	checkFlags(t, "StatefulSet", c.Args, env)

	// The headless Service gives pods stable names for --join.
	var headless *serviceSpec
	for _, o := range byKind["Service"] {
		var s serviceSpec
		if err := o.Spec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		for k, v := range s.Selector {
			if sts.Template.Metadata.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the pods lack", o.Metadata.Name, k, v)
			}
		}
		if s.ClusterIP == "None" && o.Metadata.Name == sts.ServiceName {
			headless = &s
		}
	}
	if headless == nil || !headless.PublishNotReadyAddresses {
		t.Fatalf("no headless Service %q publishing not-ready pods (gossip must form before readiness)", sts.ServiceName)
	}
	var join string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--join="); ok {
			join = v
		}
	}
	for i := range sts.Replicas {
		peer := sts.ServiceName
		want := "rlserver-" + string(rune('0'+i)) + "." + peer + ":7946"
		if !strings.Contains(join, want) {
			t.Errorf("--join=%q lacks %s", join, want)
		}
	}

	// Probes: /health for startup and liveness, /ready for readiness, on
	// the port the HTTP listener binds.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, pr := range map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/health"
		if name == "readiness" {
			want = "/ready"
		}
		if pr == nil || pr.HTTPGet.Path != want || ports[pr.HTTPGet.Port] == 0 {
			t.Errorf("%s probe = %+v, want GET %s on a named port", name, pr, want)
		}
	}
	if !slices.Contains(c.Args, "--http-addr=0.0.0.0:8080") || ports["http"] != 8080 || ports["resp"] != 6379 {
		t.Errorf("ports %v do not match the listeners in %v", ports, c.Args)
	}

	// --data-dir is on the claimed volume.
	dataDir := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			dataDir = v
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range sts.VolumeClaimTemplates {
			if m.Name == v.Metadata.Name && m.MountPath == dataDir {
				mounted = true
			}
		}
	}
	if dataDir == "" || !mounted {
		t.Errorf("--data-dir=%q is not a mounted PersistentVolumeClaim", dataDir)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources = %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Error("pods may run as root")
	}
	var pdb struct {
		MaxUnavailable int `yaml:"maxUnavailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	}
	if err := byKind["PodDisruptionBudget"][0].Spec.Decode(&pdb); err != nil {
		t.Fatal(err)
	}
	if pdb.MaxUnavailable != 1 || len(pdb.Selector.MatchLabels) == 0 {
		t.Errorf("PodDisruptionBudget = %+v", pdb)
	}
	for k, v := range pdb.Selector.MatchLabels {
		if sts.Template.Metadata.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selects %s=%s, which the pods lack", k, v)
		}
	}
}

// TestDockerfile checks the Dockerfile statically (docker cannot build on
// this machine) and builds the binary the way it does, checking that the
// result is static: the final image has no libc and no shell.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage
	var buildCmd string
	for _, line := range strings.Split(strings.ReplaceAll(string(src), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before FROM: %s", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			buildCmd = line
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a runtime stage", len(stages))
	}
	final := stages[len(stages)-1]
	base := strings.Fields(final[0])[1]
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want scratch or distroless/static (no shell)", base)
	}
	var user, entry string
	for _, ins := range final {
		switch {
		case strings.HasPrefix(ins, "RUN "):
			t.Errorf("final stage runs %q: it has no shell", ins)
		case strings.HasPrefix(ins, "USER "):
			user = strings.TrimPrefix(ins, "USER ")
		case strings.HasPrefix(ins, "ENTRYPOINT "):
			entry = strings.TrimPrefix(ins, "ENTRYPOINT ")
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("ENTRYPOINT %q is not an exec-form JSON array: %v", entry, err)
	}
	checkFlags(t, "Dockerfile", argv[1:], nil)
	if !strings.Contains(buildCmd, "CGO_ENABLED=0") || !strings.Contains(buildCmd, "./cmd/rlserver") {
		t.Fatalf("build step %q: want CGO_ENABLED=0 go build ... ./cmd/rlserver", buildCmd)
	}
	// Build as the Dockerfile does and check the binary needs no loader.
	out := filepath.Join(t.TempDir(), "rlserver")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/rlserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	ef, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary is dynamically linked (program header %v)", p.Type)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../deploy/systemd/rlserver.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictNamespaces": "yes",
		"MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "StateDirectory": "rlserver",
		"KillSignal": "SIGTERM", "Restart": "on-failure",
	} {
		if got, ok := keys[k]; !ok || got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	exec0 := strings.Fields(keys["ExecStart"])
	if len(exec0) == 0 {
		t.Fatal("no ExecStart")
	}
	checkFlags(t, "systemd unit", exec0[1:], nil)
	if !slices.Contains(exec0, "--data-dir=${STATE_DIRECTORY}") {
		t.Error("--data-dir is not the StateDirectory")
	}
	// systemd's own parser, with the binary where the unit expects it.
	analyze := requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	unit := strings.ReplaceAll(string(src), "/usr/local/bin/rlserver", binary(t))
	path := filepath.Join(dir, "rlserver.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Only complaints about this unit count; the host's own units may be odd.
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "rlserver.service") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// promqlMetrics extracts the metric names a PromQL expression reads:
// identifiers that are not functions, keywords, label names (inside {}
// or by/without/on/ignoring lists), durations or strings.
func promqlMetrics(expr string) []string {
	s := regexp.MustCompile(`"(\\.|[^"\\])*"`).ReplaceAllString(expr, `""`)
	s = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(s, "")
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "by": true, "without": true}
	var names []string
	for _, m := range regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?`).FindAllStringSubmatch(s, -1) {
		if m[2] == "(" || keywords[strings.ToLower(m[1])] {
			continue
		}
		names = append(names, m[1])
	}
	return names
}

func TestPromqlMetrics(t *testing.T) {
	got := promqlMetrics(`histogram_quantile(0.99, sum by (instance, le) (rate(rate_limiter_check_duration_seconds_bucket{x="a b"}[5m]))) > 0.005 and on (instance) up{job="rlserver"} == 0 or process_start_time_seconds`)
	want := []string{"rate_limiter_check_duration_seconds_bucket", "up", "process_start_time_seconds"}
	if !slices.Equal(got, want) {
		t.Fatalf("promqlMetrics = %v, want %v", got, want)
	}
}

// TestDeployReferencesRealMetrics checks that every metric the alert rules
// and the Grafana dashboard read exists in the real server's /metrics
// after a workload (up is Prometheus's own).
func TestDeployReferencesRealMetrics(t *testing.T) {
	t.Parallel()
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte("rules:\n  - {id: per-ip, per: [ip], algorithm: gcra, limit: 5, window: 1m}\n"), 0o644)
	srv := startServer(t, "--rules", rulesFile)
	rc := newRaw(dial(t, srv.Addr))
	rc.pipeline([]string{"CL.THROTTLE", "k", "1", "1", "60"}, []string{"RL.CHECK", "ip", "192.0.2.1"}, []string{"SAVE"})
	httpGet(t, "http://"+srv.HTTP+"/health")
	fams := scrape(t, srv.HTTP)
	exists := func(name string) bool {
		if fams[name] != nil || name == "up" {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil && fams[base].GetType().String() == "HISTOGRAM" {
				return true
			}
		}
		return false
	}

	var alerts struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &alerts); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			for _, m := range promqlMetrics(r.Expr) {
				seen++
				if !exists(m) {
					t.Errorf("alert %s reads %s, which /metrics lacks", r.Alert, m)
				}
			}
		}
	}

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	b, err = os.ReadFile("../deploy/grafana/rlserver.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range promqlMetrics(tg.Expr) {
				seen++
				if !exists(m) {
					t.Errorf("panel %q reads %s, which /metrics lacks", p.Title, m)
				}
			}
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
			m := strings.TrimSuffix(strings.Split(strings.TrimPrefix(q, "label_values("), ",")[0], ")")
			if !exists(m) {
				t.Errorf("variable query %q reads %s, which /metrics lacks", q, m)
			}
		}
	}
	if seen < 40 {
		t.Fatalf("only %d metric references found: the parser is broken", seen)
	}
}
