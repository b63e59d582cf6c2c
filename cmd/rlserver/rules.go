package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/rules"
	"github.com/rlserver/rlserver/server"
	"github.com/rlserver/rlserver/shard"
)

// openRules opens the rules engine on the server's store: its database
// is rules.db in the data directory (a temporary one without a data
// directory, so nothing survives a restart), and file, when given, is
// applied at start. node names this node in versions and audit entries.
// In a cluster every local change is broadcast through rep, the file's
// included.
func openRules(srv *server.Server, cfg server.Config, file, node string, rep *shard.Replicator, log *slog.Logger) (*rules.Engine, error) {
	path := ""
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		path = filepath.Join(cfg.DataDir, "rules.db")
	} else {
		log.Warn("no --data-dir: rule changes will not survive a restart")
	}
	re, err := rules.Open(rules.Config{
		Counters:    srv.Store(),
		Path:        path,
		Node:        node,
		MaxLogLimit: int64(cfg.MaxLogLimit),
		Log:         log,
	})
	if err != nil {
		return nil, err
	}
	if rep != nil {
		re.OnChange(func(ch rules.Change) {
			rep.Broadcast(ch.Kind+"/"+ch.ID, rules.EncodeChanges(ch))
		})
	}
	if file != "" {
		f, err := rules.LoadFile(file, rules.Limits{MaxLogLimit: int64(cfg.MaxLogLimit)})
		if err != nil {
			re.Close()
			return nil, fmt.Errorf("--rules: %w", err)
		}
		n, err := re.ApplyFile(f, "file:"+filepath.Base(file), srv.Now())
		if err != nil {
			re.Close()
			return nil, fmt.Errorf("--rules: %w", err)
		}
		log.Info("rules file loaded", "file", file, "rules", len(f.Rules), "changed", n)
	}
	return re, nil
}

// replicatedRules is the rules engine as the cluster's replicated state:
// every node keeps all rules, lists and tiers, and merges others' changes
// last-writer-wins (rules.Engine.ApplyEncoded). e is set before the
// cluster starts.
type replicatedRules struct{ e *rules.Engine }

func (r *replicatedRules) State() []byte                   { return r.e.EncodedState() }
func (r *replicatedRules) Merge(bs ...[]byte) (int, error) { return r.e.ApplyEncoded(bs...) }

// rulesCommand runs "rlserver rules check FILE": validate a rules file
// without starting, one line per problem.
func rulesCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: rlserver rules check FILE")
		return errors.New("rules: unknown subcommand")
	}
	f, err := rules.LoadFile(args[1], rules.Limits{MaxLogLimit: int64(server.DefaultConfig().MaxLogLimit)})
	if err != nil {
		var ve *rules.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "%s: %d problem(s)\n", args[1], len(ve.Fields))
			for _, k := range sortedKeys(ve.Fields) {
				fmt.Fprintf(stderr, "  %s: %s\n", k, ve.Fields[k])
			}
			return fmt.Errorf("%s is not valid", args[1])
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d rules, %d allow, %d deny, %d tier assignments)\n", args[1], len(f.Rules), len(f.Allow), len(f.Deny), len(f.Tiers))
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ruleSource shows the rules engine's per-rule counters to metrics and
// the status page.
type ruleSource struct{ e *rules.Engine }

func (s ruleSource) EachRule(fn func(metrics.RuleStats)) {
	for _, st := range s.e.RuleStats() {
		r, ok := s.e.Rule(st.ID)
		if !ok {
			continue
		}
		fn(metrics.RuleStats{
			ID:       st.ID,
			Hits:     uint64(st.Hits),
			Rejected: uint64(st.Limited),
			Shadow:   r.Action == rules.ActionShadow,
			Summary:  summary(&r),
		})
	}
}

// summary describes a rule in a few words: "100 per 1m, gcra, match endpoint=/api, per user_id".
func summary(r *rules.Rule) string {
	s := fmt.Sprintf("%d per %s, %s", r.Limit, r.Window, r.Algorithm)
	var m []string
	for _, f := range []struct{ k, v string }{{"user_id", r.Match.UserID}, {"api_key", r.Match.APIKey}, {"ip", r.Match.IP}, {"endpoint", r.Match.Endpoint}, {"method", r.Match.Method}, {"tier", r.Match.Tier}} {
		if f.v != "" {
			m = append(m, f.k+"="+f.v)
		}
	}
	if len(m) > 0 {
		s += ", match " + strings.Join(m, " ")
	}
	if len(r.Per) > 0 {
		s += ", per " + strings.Join(r.Per, "+")
	}
	return s
}
