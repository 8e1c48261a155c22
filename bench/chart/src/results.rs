//! The results `bench/compare.sh` writes: one CSV line per server and case.
//!
//! ```text
//! section,case,server,ops_per_sec,p50_us,p99_us
//! distcache protocol,1 conn × 1 in flight,dc_server,15236,61,111
//! distcache protocol,1 conn × 1 in flight,redis-server,12437,71,159
//! ```
//!
//! Lines starting with `#` are comments. Fields hold no commas (the script
//! writes them); the latencies may be empty (redis-benchmark's SET/GET
//! rows have none). Rows keep their order: sections, then cases within
//! them, then servers within a case, in order of first appearance.

use thiserror::Error;

/// The header line, exactly.
pub const HEADER: &str = "section,case,server,ops_per_sec,p50_us,p99_us";

/// A results file that does not read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ResultsError {
    /// The first line is not [`HEADER`].
    #[error("line 1 is {0:?}, expected the header {HEADER:?}")]
    Header(String),
    /// A line with the wrong number of fields.
    #[error("line {line}: {count} fields, expected 6 ({HEADER})")]
    Fields {
        /// Line number, from 1.
        line: usize,
        /// Fields found.
        count: usize,
    },
    /// A number that is not one, or not positive.
    #[error("line {line}: {field} {value:?} is not a positive number")]
    Number {
        /// Line number, from 1.
        line: usize,
        /// The column.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// A section, case or server left empty.
    #[error("line {line}: the {field} is empty")]
    Empty {
        /// Line number, from 1.
        line: usize,
        /// The column.
        field: &'static str,
    },
    /// Nothing but the header.
    #[error("no results: the file has a header and nothing else")]
    NoRows,
}

/// One server's figures in one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The server measured (`dc_server`, `redis-server`, `memcached`).
    pub server: String,
    /// Throughput.
    pub ops_per_sec: f64,
    /// Median latency, in microseconds, if measured.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, in microseconds, if measured.
    pub p99_us: Option<f64>,
}

/// One case: every server's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// What ran (`16 conns × 16 pipelined`).
    pub name: String,
    /// The servers, in file order.
    pub bars: Vec<Bar>,
}

/// Cases measured the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// How they were measured.
    pub name: String,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// Reads a results file into its sections.
pub fn parse(text: &str) -> Result<Vec<Section>, ResultsError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some((_, header)) if header == HEADER => {}
        Some((_, other)) => return Err(ResultsError::Header(other.to_string())),
        None => return Err(ResultsError::Header(String::new())),
    }
    let mut sections: Vec<Section> = Vec::new();
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let [section, case, server, ops, p50, p99] = fields[..] else {
            return Err(ResultsError::Fields {
                line,
                count: fields.len(),
            });
        };
        for (field, value) in [("section", section), ("case", case), ("server", server)] {
            if value.is_empty() {
                return Err(ResultsError::Empty { line, field });
            }
        }
        let bar = Bar {
            server: server.to_string(),
            ops_per_sec: number(line, "ops_per_sec", ops)?,
            p50_us: optional(line, "p50_us", p50)?,
            p99_us: optional(line, "p99_us", p99)?,
        };
        let at = match sections.iter().position(|s| s.name == section) {
            Some(at) => at,
            None => {
                sections.push(Section {
                    name: section.to_string(),
                    cases: Vec::new(),
                });
                sections.len() - 1
            }
        };
        let cases = &mut sections[at].cases;
        match cases.iter_mut().find(|c| c.name == case) {
            Some(c) => c.bars.push(bar),
            None => cases.push(Case {
                name: case.to_string(),
                bars: vec![bar],
            }),
        }
    }
    if sections.is_empty() {
        return Err(ResultsError::NoRows);
    }
    Ok(sections)
}

fn number(line: usize, field: &'static str, value: &str) -> Result<f64, ResultsError> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(ResultsError::Number {
            line,
            field,
            value: value.to_string(),
        }),
    }
}

fn optional(line: usize, field: &'static str, value: &str) -> Result<Option<f64>, ResultsError> {
    if value.is_empty() {
        Ok(None)
    } else {
        number(line, field, value).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_into_sections_and_cases_in_order() {
        let text = format!(
            "# bench/compare.sh\n{HEADER}\n\
             a,1 x 1,dc_server,15236,61,111\n\
             a,1 x 1,redis-server,12437.5,71,159\n\
             a,16 x 1,dc_server,157364,95,166\n\
             b,SET,dc_server,56007,,\n\
             b,SET,redis-server,45218,,\n"
        );
        let sections = parse(&text).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].name, "a");
        assert_eq!(sections[0].cases.len(), 2);
        let first = &sections[0].cases[0];
        assert_eq!(first.name, "1 x 1");
        assert_eq!(first.bars[1].server, "redis-server");
        assert_eq!(first.bars[1].ops_per_sec, 12437.5);
        assert_eq!(first.bars[1].p99_us, Some(159.0));
        let set = &sections[1].cases[0];
        assert_eq!((set.bars.len(), set.bars[0].p50_us), (2, None));
    }

    #[test]
    fn mistakes_name_the_line_and_value() {
        let err = |body: &str| parse(&format!("{HEADER}\n{body}")).unwrap_err();
        assert_eq!(
            parse("case,ops\n").unwrap_err().to_string(),
            "line 1 is \"case,ops\", expected the header \"section,case,server,ops_per_sec,p50_us,p99_us\""
        );
        assert_eq!(err("a,b,c,1,2"), ResultsError::Fields { line: 2, count: 5 });
        assert_eq!(
            err("a,b,c,fast,2,3").to_string(),
            "line 2: ops_per_sec \"fast\" is not a positive number"
        );
        assert!(matches!(err("a,b,c,0,2,3"), ResultsError::Number { .. }));
        assert!(matches!(
            err("a,b,c,1,2,-3"),
            ResultsError::Number {
                field: "p99_us",
                ..
            }
        ));
        assert_eq!(
            err("a,,c,1,2,3"),
            ResultsError::Empty {
                line: 2,
                field: "case"
            }
        );
        assert_eq!(parse(&format!("{HEADER}\n")), Err(ResultsError::NoRows));
    }
}
