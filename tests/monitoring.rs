//! contrib/grafana/ and contrib/prometheus/ against the real programs: the
//! rules pass `promtool check rules` and their unit tests (`promtool test
//! rules`), every dashboard expression is valid PromQL, and every metric
//! the dashboard and the rules use is exported by a running dc_server or
//! dc_client with some traffic behind it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use dc_e2e::promql::{metric_names, rules, Exposition, Rule};
use dc_e2e::{
    dc_test_verifies, free_port, installed_program, run_command, scrape_until, Conn, Daemon,
    IO_TIMEOUT,
};
use serde_json::Value;

/// Series Prometheus makes itself for every target, not the programs.
const MADE_BY_PROMETHEUS: [&str; 1] = ["up"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn promtool(args: &[&str]) -> Output {
    let promtool = installed_program("promtool", "prometheus");
    let out = run_command(
        Command::new(promtool).args(args).current_dir(root()),
        b"",
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The files in `dir` (relative to the workspace) ending in `.yml`.
fn yml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .yml files in {dir}");
    files
}

/// Every rule of contrib/prometheus/*.yml, checked by promtool, which
/// must count as many rules as were read here.
fn checked_rules() -> Vec<Rule> {
    let files = yml_files("contrib/prometheus");
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = promtool(&args);
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut all = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root().join(file)).expect("rules file");
        let read = rules(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        // promtool prints "Checking FILE\n  SUCCESS: N rules found" per file.
        let counted = report
            .split(&format!("Checking {file}"))
            .nth(1)
            .and_then(|rest| rest.split("SUCCESS: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no rule count for {file} in:\n{report}"));
        assert_eq!(
            read.len(),
            counted,
            "{file}: rules read here vs by promtool"
        );
        all.extend(read);
    }
    all
}

/// Every PromQL expression of the dashboard: the panels' targets (rows'
/// panels included) and the template variables' `label_values(metric,
/// label)` queries (as the metric alone).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut exprs = Vec::new();
    panels(&dashboard["panels"], &mut exprs);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str());
        if variable["type"] == "query" {
            let query = query.expect("a query variable has a query");
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(metric, _)| metric.trim())
                .unwrap_or_else(|| panic!("unexpected variable query {query}"));
            exprs.push(inner.to_string());
        }
    }
    exprs
}

/// The dashboard's expressions as Grafana sends them, its variables
/// replaced by values, written as recording rules for promtool to parse.
fn check_dashboard_syntax(exprs: &[String]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$server", ".*")
            .replace("$client", ".*");
        assert!(!expr.contains('$'), "an unknown variable in {expr}");
        yaml.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).expect("a JSON string is a YAML string")
        ));
    }
    let file = dir.path().join("dashboard.yml");
    std::fs::write(&file, yaml).expect("write the rules");
    promtool(&["check", "rules", file.to_str().expect("a UTF-8 path")]);
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests() {
    let rules = checked_rules();
    let alerts: BTreeSet<&str> = rules
        .iter()
        .filter(|r| !r.record)
        .map(|r| r.name.as_str())
        .collect();
    for wanted in [
        "DistcacheServerDown",
        "DistcacheServerAbsent",
        "DistcacheClientUpstreamDown",
        "DistcacheHitRatioCollapse",
        "DistcacheEvictionsRising",
        "DistcacheConnectionsRefused",
        "DistcacheMemoryNearCap",
    ] {
        assert!(alerts.contains(wanted), "no alert {wanted}: {alerts:?}");
    }
    let tests = yml_files("contrib/prometheus/tests");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    promtool(&args);
}

/// Sends a frame that is not distcache: the server closes the connection
/// and counts a refusal (reason "protocol").
fn send_garbage(address: &str) {
    let mut conn = Conn::connect(address);
    conn.send(b"GET / HTTP/1.0\r\n\r\n");
    conn.read_to_eof();
}

#[test]
fn every_metric_the_dashboard_and_rules_use_is_exported() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("contrib/grafana/distcache.json"))
            .expect("contrib/grafana/distcache.json"),
    )
    .expect("the dashboard is JSON");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() > 20, "{exprs:?}");
    check_dashboard_syntax(&exprs);
    let rules = checked_rules();
    let recorded: BTreeSet<&str> = rules
        .iter()
        .filter(|r| r.record)
        .map(|r| r.name.as_str())
        .collect();
    // Which expressions use which names, for the failure message.
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for expr in exprs.iter().chain(rules.iter().map(|r| &r.expr)) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        for name in names {
            used.entry(name).or_default().push(expr.clone());
        }
    }
    used.retain(|name, _| {
        !recorded.contains(name.as_str()) && !MADE_BY_PROMETHEUS.contains(&name.as_str())
    });

    // A server and a client, each with -metrics, and traffic through both
    // so that the labelled series exist.
    let (server_port, server_metrics) = (free_port(), free_port());
    let server_address = format!("127.0.0.1:{server_port}");
    let server_metrics = format!("127.0.0.1:{server_metrics}");
    let _server = Daemon::start(
        "dc_server",
        &[
            "-listen".into(),
            server_address.clone(),
            "-metrics".into(),
            server_metrics.clone(),
            "-sessions".into(),
            "1000".into(),
            "-memory".into(),
            "2".into(),
        ],
        &format!("IP:{server_address}"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let client_socket = dir.path().join("client.sock");
    let client_metrics = format!("127.0.0.1:{}", free_port());
    let client = Daemon::start_until_log(
        dir,
        "dc_client",
        &[
            "-listen".into(),
            client_socket.display().to_string(),
            "-server".into(),
            server_address.clone(),
            "-metrics".into(),
            client_metrics.clone(),
        ],
        "] connected to ",
    );
    dc_test_verifies(
        &client_socket.display().to_string(),
        &["-sessions", "10", "-ops", "300", "-persistent"],
    );
    send_garbage(&format!("IP:{server_address}"));
    assert!(client.wait_for_log("connected to", IO_TIMEOUT));

    let server_text = scrape_until(&server_metrics, |t| {
        t.contains("distcache_connections_refused_total{reason=\"protocol\"} 1")
            && t.contains(
                "distcache_store_operations_total{protocol=\"distcache\",operation=\"get\"",
            )
    });
    let client_text = scrape_until(&client_metrics, |t| {
        t.contains("distcache_client_requests_total{command=\"get\",result=\"hit\"}")
            // The server's share of the requests it forwarded is timed too.
            && t.lines().any(|l| {
                l.strip_prefix("distcache_client_upstream_request_duration_seconds_count ")
                    .and_then(|n| n.parse::<f64>().ok())
                    .is_some_and(|n| n >= 1.0)
            })
    });
    // The caps are the command line's.
    for line in [
        "distcache_sessions_limit 1000",
        "distcache_session_bytes_limit 2097152",
        "distcache_connections_limit ",
    ] {
        assert!(
            server_text.lines().any(|l| l.starts_with(line)),
            "{line}:\n{server_text}"
        );
    }
    assert!(
        client_text.contains(&format!(
            "distcache_client_upstream_info{{server=\"IP:{server_address}\"}} 1"
        )),
        "{client_text}"
    );

    let mut exported = Exposition::parse(&server_text);
    let client = Exposition::parse(&client_text);
    exported.samples.extend(client.samples);
    exported.types.extend(client.types);
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !exported.samples.contains(name.as_str()))
        .map(|(name, exprs)| format!("{name} (in {})", exprs[0]))
        .collect();
    assert!(
        missing.is_empty(),
        "used but not exported:\n{}",
        missing.join("\n")
    );
    // Quantiles are taken of histograms.
    for name in used.keys().filter(|n| n.ends_with("_bucket")) {
        assert_eq!(
            exported.family_of(name).map(|(_, kind)| kind),
            Some("histogram"),
            "{name}"
        );
    }
    let families: BTreeSet<&str> = used
        .keys()
        .map(|n| {
            exported
                .family_of(n)
                .map(|(family, _)| family)
                .unwrap_or_else(|| panic!("{n} has no # TYPE"))
        })
        .collect();
    eprintln!(
        "metric families used by the dashboard and the rules ({}):\n{}",
        families.len(),
        families.into_iter().collect::<Vec<_>>().join("\n")
    );
}
