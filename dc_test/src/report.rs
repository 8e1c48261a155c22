//! A verify run as the original printed it: the same lines on stderr, in
//! the same order, plus the seed and a rate summary.
//!
//! ```text
//! Info, random seed = 1234
//! Info, 3 sessions generated, will run 20 random tests
//! Info, total operations =      10            (every -progress operations)
//! Info, all tests complete
//! Info, 20 operations in 0.004 s (5000 ops/s)
//! ```
//!
//! or, at the first mismatch (exit status 1):
//!
//! ```text
//! Error, add failed! (connect to IP:127.0.0.1:9 failed: Connection refused (os error 111))
//! Info, 0 tests succeeded before the first failure
//! ```

use std::io::{self, Write};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::args::Config;
use crate::verify::{self, Failure, Plan, Target};

/// The seed, so a failing run can be repeated with `--seed`.
pub fn seed_line(seed: u64) -> String {
    format!("Info, random seed = {seed}")
}

/// Printed once the sessions exist.
pub fn sessions_line(sessions: usize, ops: u64) -> String {
    format!("Info, {sessions} sessions generated, will run {ops} random tests")
}

/// Printed every `-progress` operations.
pub fn progress_line(count: u64) -> String {
    format!("Info, total operations = {count:7}")
}

/// Printed when every operation passed.
pub const ALL_COMPLETE: &str = "Info, all tests complete";

/// Printed after [`ALL_COMPLETE`].
pub fn summary_line(ops: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
    format!("Info, {ops} operations in {secs:.3} s ({rate:.0} ops/s)")
}

/// The two lines for the first mismatch.
pub fn failure_lines(failure: &Failure) -> [String; 2] {
    [
        format!("Error, {failure}"),
        format!(
            "Info, {} tests succeeded before the first failure",
            failure.succeeded
        ),
    ]
}

/// Generates the sessions from `seed`, runs the verify loop against
/// `target` and reports on `out`. Returns whether every operation passed.
pub fn verify<T: Target>(
    target: &mut T,
    config: &Config,
    seed: u64,
    out: &mut impl Write,
) -> io::Result<bool> {
    let mut rng = StdRng::seed_from_u64(seed);
    writeln!(out, "{}", seed_line(seed))?;
    let sessions =
        verify::generate_sessions(&mut rng, config.sessions, config.datamin, config.datamax);
    writeln!(out, "{}", sessions_line(sessions.len(), config.ops))?;
    let plan = Plan {
        ops: config.ops,
        progress: config.progress,
        timeout_s: config.timeout_s,
        timevar_s: config.timevar_s,
    };
    let start = Instant::now();
    // Progress lines are best effort: a closed stderr must not stop the run.
    let outcome = verify::run(target, &sessions, &plan, &mut rng, |count| {
        let _ = writeln!(out, "{}", progress_line(count));
    });
    let elapsed = start.elapsed();
    match outcome {
        Ok(()) => {
            writeln!(out, "{ALL_COMPLETE}")?;
            writeln!(out, "{}", summary_line(config.ops, elapsed))?;
            Ok(true)
        }
        Err(failure) => {
            for line in failure_lines(&failure) {
                writeln!(out, "{line}")?;
            }
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Mismatch;

    /// A cache that is always right.
    #[derive(Default)]
    struct Memory(std::collections::HashMap<Vec<u8>, Vec<u8>>);

    impl Target for Memory {
        type Error = String;
        fn add(&mut self, id: &[u8], data: &[u8], _: u32) -> Result<(), String> {
            match self.0.insert(id.to_vec(), data.to_vec()) {
                None => Ok(()),
                Some(old) => {
                    self.0.insert(id.to_vec(), old);
                    Err("refused".into())
                }
            }
        }
        fn get_into(&mut self, id: &[u8], buf: &mut Vec<u8>) -> Result<bool, String> {
            buf.clear();
            Ok(self.0.get(id).map(|d| buf.extend_from_slice(d)).is_some())
        }
        fn remove(&mut self, id: &[u8]) -> Result<bool, String> {
            Ok(self.0.remove(id).is_some())
        }
        fn has(&mut self, id: &[u8]) -> Result<bool, String> {
            Ok(self.0.contains_key(id))
        }
    }

    /// A cache whose server is gone.
    struct Dead;

    impl Target for Dead {
        type Error = &'static str;
        fn add(&mut self, _: &[u8], _: &[u8], _: u32) -> Result<(), Self::Error> {
            Err("connect to IP:127.0.0.1:9 failed: Connection refused")
        }
        fn get_into(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<bool, Self::Error> {
            Err("connect to IP:127.0.0.1:9 failed: Connection refused")
        }
        fn remove(&mut self, _: &[u8]) -> Result<bool, Self::Error> {
            Err("connect to IP:127.0.0.1:9 failed: Connection refused")
        }
        fn has(&mut self, _: &[u8]) -> Result<bool, Self::Error> {
            Err("connect to IP:127.0.0.1:9 failed: Connection refused")
        }
    }

    fn config(sessions: usize, ops: u64, progress: u64) -> Config {
        Config {
            connect: "IP:127.0.0.1:9".into(),
            sessions,
            datamin: 50,
            datamax: 2100,
            timeout_s: 60,
            timevar_s: 5,
            ops,
            progress,
            persistent: true,
            seed: None,
        }
    }

    /// The original's stderr for `-sessions 3 -ops 20 -progress 10`.
    fn recorded_dc_test_output() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/vectors.json");
        let vectors: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let case = &vectors["snoop"]["dc_test_direct"];
        assert_eq!(
            case["args"].as_str().unwrap(),
            "-sessions 3 -ops 20 -progress 10 -persistent"
        );
        case["stderr"].as_str().unwrap().to_owned()
    }

    #[test]
    fn output_matches_the_original_plus_seed_and_summary() {
        let mut out = Vec::new();
        let passed = verify(&mut Memory::default(), &config(3, 20, 10), 77, &mut out).unwrap();
        assert!(passed);
        let text = String::from_utf8(out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.remove(0), "Info, random seed = 77");
        let summary = lines.pop().unwrap();
        assert!(
            summary.starts_with("Info, 20 operations in ") && summary.ends_with(" ops/s)"),
            "{summary}"
        );
        let original: Vec<String> = recorded_dc_test_output()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(lines, original);
    }

    #[test]
    fn a_dead_server_reports_the_reason_after_the_phrase() {
        let mut out = Vec::new();
        let passed = verify(&mut Dead, &config(10, 100, 0), 1, &mut out).unwrap();
        assert!(!passed);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[2] == "Error, add failed! (connect to IP:127.0.0.1:9 failed: Connection refused)"
                || lines[2]
                    == "Error, transaction failure (connect to IP:127.0.0.1:9 failed: Connection refused)",
            "{text}"
        );
        assert_eq!(lines[3], "Info, 0 tests succeeded before the first failure");
    }

    #[test]
    fn line_formats() {
        assert_eq!(progress_line(10), "Info, total operations =      10");
        assert_eq!(
            progress_line(12_345_678),
            "Info, total operations = 12345678"
        );
        assert_eq!(
            summary_line(1000, Duration::from_millis(250)),
            "Info, 1000 operations in 0.250 s (4000 ops/s)"
        );
        assert_eq!(
            summary_line(0, Duration::ZERO),
            "Info, 0 operations in 0.000 s (0 ops/s)"
        );
        let failure = Failure {
            mismatch: Mismatch::MismatchedSession,
            reason: None,
            succeeded: 41,
        };
        assert_eq!(
            failure_lines(&failure),
            [
                "Error, received mismatched session".to_string(),
                "Info, 41 tests succeeded before the first failure".to_string()
            ]
        );
    }
}
