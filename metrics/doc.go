// Package metrics exposes rlserver to Prometheus, through
// github.com/prometheus/client_golang (the reference client: exposition
// formats, content negotiation, Go runtime and process collectors).
//
// The package keeps no counters of its own for the RESP hot path. The
// server, persistence, cluster and rules layers keep theirs (per event loop
// or per shard, so no cache line is shared between cores) and implement the
// small source interfaces declared here; the collector folds them when
// Prometheus scrapes. Histogram is the one counting type shared with them:
// lock-free, one per loop, folded at scrape time.
//
// No label takes a value from request data: label values come from the
// command table, fixed sets declared here (ErrorTypes, MemberStates,
// ForwardErrorReasons, OwnerPolicies), rule ids chosen by operators (at
// most MaxRuleSeries series), and HTTP routes registered in code.
//
// Metrics (all prefixed rate_limiter_):
//
//	requests_total{command,result}             limiter checks: allowed, limited, error
//	check_duration_seconds{command}            histogram, 1 µs … 100 ms buckets
//	commands_total{command}                    commands executed (INFO commandstats calls)
//	commands_rejected_total{command}           refused before running (arity, NOAUTH, OOM)
//	commands_failed_total{command}             ran and answered an error
//	commands_duration_seconds_total{command}   time spent (INFO commandstats usec)
//	commands_processed_total                   all commands
//	errors_total{type}                         error replies by type; protocol; panic
//	keys{kind}                                 keys by algorithm
//	store_bytes, max_memory_bytes              logical store size and its limit
//	connected_clients, max_clients, connections_received_total, rejected_connections_total
//	net_input_bytes_total, net_output_bytes_total
//	expired_keys_total, evicted_keys_total, loading
//	snapshot_last_success_timestamp_seconds, snapshot_last_duration_seconds,
//	snapshot_last_size_bytes, snapshot_last_keys, snapshots_total,
//	snapshot_failures_total, snapshot_in_progress, snapshot_last_failed
//	cluster_enabled, cluster_members{state}, cluster_slots_owned,
//	cluster_joined, cluster_join_attempts_total,
//	cluster_forwarded_total, cluster_forward_errors_total{reason},
//	cluster_forward_duration_seconds, cluster_redirects_total,
//	cluster_handoff_keys_sent_total, cluster_handoff_keys_received_total,
//	cluster_replication_keys_sent_total, cluster_replication_lag_seconds,
//	cluster_unreachable_owner_decisions_total{policy}
//	rules, rule_hits_total{rule}, rule_rejections_total{rule}
//	http_requests_total{route,code}, http_request_duration_seconds{route}
//	build_info{version,goversion}
//
// plus go_* and process_* from client_golang's collectors.
package metrics
