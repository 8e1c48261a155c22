//! Just enough PromQL, Prometheus rules and exposition text to check that
//! the dashboard and the alerting rules in contrib/ only use metrics the
//! programs export: the metric names an expression selects, the
//! expressions of a rules file, and the series of a scrape.
//!
//! This is not a PromQL parser (`promtool check rules` checks the syntax);
//! it is a tokenizer that knows which identifiers are not metric names:
//! functions and aggregations, keywords and the label lists after `by`,
//! `without`, `on`, `ignoring`, `group_left` and `group_right`, and
//! everything inside `{...}` (label matchers), `[...]` (ranges), strings,
//! numbers and durations, and Grafana's `$variables`.

use std::collections::{BTreeMap, BTreeSet};

/// Aggregation operators: followed by `(` or by a `by`/`without` clause.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Other keywords: binary operators, modifiers, special numbers.
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// The index just past the string literal that starts at `at` (a `"`,
/// `'` or backtick), honouring backslash escapes except in raw strings.
fn skip_string(s: &[u8], at: usize) -> usize {
    let quote = s[at];
    let mut i = at + 1;
    while i < s.len() {
        match s[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// The index just past the bracket that closes the one at `at`, skipping
/// strings inside (a `}` in a label value does not close a selector).
fn skip_group(s: &[u8], at: usize) -> usize {
    let (open, close) = (s[at], matching(s[at]));
    let mut depth = 0;
    let mut i = at;
    while i < s.len() {
        match s[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(s, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    s.len()
}

fn matching(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// The first index at or after `i` that is not whitespace.
fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// A metric named by a `__name__="..."` matcher in the selector `braces`
/// (`{...}`, brackets included).
fn name_matcher(braces: &str) -> Option<String> {
    let at = braces.find("__name__")?;
    let rest = braces[at + "__name__".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let value = &rest[1..];
    value.find(quote).map(|end| value[..end].to_string())
}

/// The metric names `expr` selects.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let s = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            // A comment, to the end of the line.
            while i < s.len() && s[i] != b'\n' {
                i += 1;
            }
        } else if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(s, i);
        } else if c == b'{' {
            let end = skip_group(s, i);
            names.extend(name_matcher(&expr[i..end]));
            i = end;
        } else if c == b'[' {
            i = skip_group(s, i);
        } else if c == b'$' {
            // A Grafana variable: $name or ${name}.
            i += 1;
            if i < s.len() && s[i] == b'{' {
                i = skip_group(s, i);
            } else {
                while i < s.len() && is_ident(s[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // A number or a duration: 0.5, 1e-3, 0x1f, 5m, 1h30m.
            while i < s.len() {
                let d = s[i];
                let exponent_sign = matches!(d, b'+' | b'-') && matches!(s[i - 1], b'e' | b'E');
                if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < s.len() && is_ident(s[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_space(s, i);
            let lower = word.to_ascii_lowercase();
            if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                if s.get(next) == Some(&b'(') {
                    i = skip_group(s, next);
                }
            } else if KEYWORDS.contains(&lower.as_str())
                || AGGREGATIONS.contains(&lower.as_str())
                || s.get(next) == Some(&b'(')
            {
                // A keyword, or a function or aggregation being called.
            } else {
                names.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    names
}

/// One rule of a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The `record:` or `alert:` name.
    pub name: String,
    /// Whether it is a recording rule.
    pub record: bool,
    /// Its `expr:`.
    pub expr: String,
}

/// The rules of a Prometheus rules file, read line by line: each rule is a
/// list item starting `- record: NAME` or `- alert: NAME`, and its `expr:`
/// is either on its own line or a block scalar (`|`, `>`, with `-` or `+`)
/// of the lines indented deeper. That is the shape promtool's own examples
/// and ours have; the caller compares the count with promtool's.
pub fn rules(yaml: &str) -> Result<Vec<Rule>, String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let item = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        for (key, record) in [("record:", true), ("alert:", false)] {
            if let Some(name) = item.strip_prefix(key) {
                rules.push(Rule {
                    name: name.trim().trim_matches(['"', '\'']).to_string(),
                    record,
                    expr: String::new(),
                });
            }
        }
        if let Some(value) = item.strip_prefix("expr:") {
            let rule = rules
                .last_mut()
                .ok_or_else(|| format!("line {}: expr: before any rule", i + 1))?;
            if !rule.expr.is_empty() {
                return Err(format!("line {}: a second expr: for {}", i + 1, rule.name));
            }
            let value = value.trim();
            if value.starts_with(['|', '>']) {
                let indent = line.len() - trimmed.len();
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let deeper = next.len() - next.trim_start().len() > indent;
                    if !(deeper || next.trim().is_empty()) {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                rule.expr = block.join("\n").trim().to_string();
            } else {
                rule.expr = value.trim_matches(['"', '\'']).to_string();
            }
            if rule.expr.is_empty() {
                return Err(format!("line {}: empty expr: for {}", i + 1, rule.name));
            }
        }
        i += 1;
    }
    match rules.iter().find(|r| r.expr.is_empty()) {
        Some(r) => Err(format!("rule {} has no expr:", r.name)),
        None => Ok(rules),
    }
}

/// A scrape in the Prometheus or OpenMetrics text format.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Every sample's series name (`distcache_operations_total`,
    /// `..._seconds_bucket`).
    pub samples: BTreeSet<String>,
    /// Each family's `# TYPE` (`counter`, `gauge`, `histogram`...).
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Reads `text`.
    pub fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    exposition.types.insert(name.into(), kind.into());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line
                    .find(|c: char| c == '{' || c.is_whitespace())
                    .unwrap_or(line.len());
                exposition.samples.insert(line[..end].to_string());
            }
        }
        exposition
    }

    /// The family a series name belongs to and its type: the suffixes of
    /// a counter (`_total`), a histogram (`_bucket`, `_sum`, `_count`) or
    /// a summary (`_sum`, `_count`) are taken off only when the family
    /// they leave has that type, so a gauge called `..._count` stays
    /// itself.
    pub fn family_of(&self, series: &str) -> Option<(&str, &str)> {
        const SUFFIXES: [(&str, &[&str]); 4] = [
            ("_total", &["counter"]),
            ("_bucket", &["histogram"]),
            ("_sum", &["histogram", "summary"]),
            ("_count", &["histogram", "summary"]),
        ];
        for (suffix, kinds) in SUFFIXES {
            if let Some(base) = series.strip_suffix(suffix) {
                if let Some((name, kind)) = self.types.get_key_value(base) {
                    if kinds.contains(&kind.as_str()) {
                        return Some((name, kind));
                    }
                }
            }
        }
        self.types
            .get_key_value(series)
            .map(|(name, kind)| (name.as_str(), kind.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn selectors_and_functions() {
        assert_eq!(names("up"), ["up"]);
        assert_eq!(names(r#"up{job="dc_server"} == 0"#), ["up"]);
        assert_eq!(
            names(r#"rate(distcache_operations_total{command="get",result=~"hit|miss"}[5m])"#),
            ["distcache_operations_total"]
        );
        assert_eq!(names("absent(up{job=\"x\"})"), ["up"]);
        assert_eq!(names("a / b > 0.9"), ["a", "b"]);
        assert_eq!(
            names("distcache:get_hit_ratio:rate5m"),
            ["distcache:get_hit_ratio:rate5m"]
        );
        // A function name is only one when called.
        assert_eq!(names("rate (x[1m])"), ["x"]);
    }

    #[test]
    fn aggregations_and_label_lists_are_not_metrics() {
        assert_eq!(
            names("histogram_quantile(0.99, sum by (le) (rate(lat_seconds_bucket[$__rate_interval])))"),
            ["lat_seconds_bucket"]
        );
        assert_eq!(names("sum without (instance, job) (x)"), ["x"]);
        assert_eq!(names("sum(x) by (command, result)"), ["x"]);
        assert_eq!(names("topk(5, x)"), ["x"]);
        assert_eq!(names("count_values(\"v\", x)"), ["x"]);
        assert_eq!(
            names("a * on (job, instance) group_left (server) b_info"),
            ["a", "b_info"]
        );
        assert_eq!(names("a * ignoring(reason) group_right b"), ["a", "b"]);
        assert_eq!(names("a and b or c unless d"), ["a", "b", "c", "d"]);
        assert_eq!(names("a > bool 1"), ["a"]);
        assert_eq!(names("a atan2 b"), ["a", "b"]);
        assert_eq!(names("SUM BY (le) (x)"), ["x"]);
    }

    #[test]
    fn strings_numbers_durations_and_variables_are_skipped() {
        assert_eq!(
            names(r#"label_replace(x, "dst", "$1", "src", "(.*)")"#),
            ["x"]
        );
        assert_eq!(names("avg_over_time(x[6h] offset 30m)"), ["x"]);
        assert_eq!(names("max_over_time(rate(x[5m])[1h:1m])"), ["x"]);
        assert_eq!(names("x > 1e-3 + 0x1f - .5 + Inf + NaN"), ["x"]);
        assert_eq!(names("x @ start()"), ["x"]);
        assert_eq!(names(r#"x{instance=~"$server", a="}{by"}"#), ["x"]);
        assert_eq!(names(r#"x{a='it\'s'} + y{b=`raw\`}"#), ["x", "y"]);
        assert_eq!(names("rate(x[${interval}]) + $var"), ["x"]);
        assert_eq!(names("x # a comment naming y\n+ z"), ["x", "z"]);
        assert_eq!(names(r#"{__name__="x", job="j"}"#), ["x"]);
        assert!(names("vector(1)").is_empty());
        assert!(names("time() - 5").is_empty());
    }

    #[test]
    fn rules_are_read_inline_and_as_blocks() {
        let yaml = "groups:\n  - name: g\n    rules:\n      - record: r:x\n        expr: |\n          sum by (a) (x)\n          /\n          y\n\n      - alert: A\n        expr: r:x > 1\n        for: 5m\n        annotations:\n          summary: \"s\"\n      - alert: \"B\"\n        expr: >-\n          up == 0\n        labels:\n          severity: critical\n";
        let got = rules(yaml).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Rule {
                name: "r:x".into(),
                record: true,
                expr: "sum by (a) (x)\n/\ny".into()
            }
        );
        assert_eq!(got[1].expr, "r:x > 1");
        assert!(!got[1].record);
        assert_eq!(
            (got[2].name.as_str(), got[2].expr.as_str()),
            ("B", "up == 0")
        );
        assert!(rules("      - alert: A\n        for: 5m\n").is_err());
        assert!(rules("        expr: x\n").is_err());
    }

    #[test]
    fn expositions_and_families() {
        let text = "# HELP ops Ops.\n# TYPE ops counter\nops_total{a=\"b\"} 3\n# TYPE lat_seconds histogram\n\
                    lat_seconds_sum 1.5\nlat_seconds_count 2\nlat_seconds_bucket{le=\"+Inf\"} 2\n\
                    # TYPE conns_count gauge\nconns_count 4\n# TYPE up_info gauge\nup_info{server=\"x\"} 1\n# EOF\n";
        let e = Exposition::parse(text);
        assert_eq!(
            e.samples.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "conns_count",
                "lat_seconds_bucket",
                "lat_seconds_count",
                "lat_seconds_sum",
                "ops_total",
                "up_info"
            ]
        );
        assert_eq!(e.family_of("ops_total"), Some(("ops", "counter")));
        assert_eq!(
            e.family_of("lat_seconds_bucket"),
            Some(("lat_seconds", "histogram"))
        );
        assert_eq!(
            e.family_of("lat_seconds_count"),
            Some(("lat_seconds", "histogram"))
        );
        // A gauge whose name ends in _count is not a histogram's count.
        assert_eq!(e.family_of("conns_count"), Some(("conns_count", "gauge")));
        assert_eq!(e.family_of("conns"), None);
        assert_eq!(e.family_of("nothing_total"), None);
    }
}
