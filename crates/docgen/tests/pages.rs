//! The documented command (`dc_docgen OUTDIR`) run for real, and what it
//! writes checked with the tools that will read it: every man page linted
//! by `mandoc -Tlint` and rendered by groff and `man -l` without a warning,
//! every completion script parsed by its shell, and the bash and fish ones
//! asked to complete an option.
//!
//! mandoc, groff, man, zsh and fish are Debian packages that .ci/run
//! installs (mandoc man-db groff-base zsh fish): a missing one fails the
//! test, it does not skip it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dc_docgen::PROGRAMS;

/// Runs the real binary into a fresh directory, with a fixed date.
fn generate() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dc_docgen"))
        .arg(dir.path())
        .env("SOURCE_DATE_EPOCH", "1764700000")
        .output()
        .expect("dc_docgen runs");
    assert!(out.status.success(), "dc_docgen: {}", text(&out.stderr));
    let files = text(&out.stdout).lines().map(PathBuf::from).collect();
    (dir, files)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a checking tool, failing clearly if it is not installed.
fn run(program: &str, args: &[&str], path: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(path)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it (Debian packages mandoc man-db groff-base zsh fish; .ci/run does)")
        })
}

fn man_pages(files: &[PathBuf]) -> Vec<&PathBuf> {
    files
        .iter()
        .filter(|f| f.parent().is_some_and(|d| d.ends_with("man")))
        .collect()
}

#[test]
fn writes_every_page_and_completion_and_lists_them() {
    let (dir, files) = generate();
    let listed: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().to_path_buf())
        .collect();
    let mut expected: BTreeSet<PathBuf> = BTreeSet::new();
    expected.insert("man/distcache.8".into());
    for p in &PROGRAMS {
        expected.insert(format!("man/{}.1", p.name).into());
        expected.insert(format!("completions/bash/{}", p.name).into());
        expected.insert(format!("completions/zsh/_{}", p.name).into());
        expected.insert(format!("completions/fish/{}.fish", p.name).into());
    }
    assert_eq!(listed, expected);
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() > 0,
            "{} is empty",
            f.display()
        );
    }
}

#[test]
fn mandoc_finds_nothing_at_warning_level_or_above() {
    let (_dir, files) = generate();
    for page in man_pages(&files) {
        // -Wwarning: report WARNING, ERROR and UNSUPP; STYLE notes (lines
        // over 80 columns, trailing spaces in clap_mangen's SYNOPSIS) are
        // below it.
        let out = run("mandoc", &["-Tlint", "-Wwarning"], page);
        let report = text(&out.stdout) + &text(&out.stderr);
        assert!(
            out.status.success() && report.trim().is_empty(),
            "{}: {report}",
            page.display()
        );
    }
}

#[test]
fn groff_and_man_render_without_warnings() {
    let (_dir, files) = generate();
    for page in man_pages(&files) {
        let out = run("groff", &["-wall", "-mandoc", "-Tutf8"], page);
        assert!(out.status.success(), "{}: groff failed", page.display());
        assert_eq!(text(&out.stderr), "", "groff on {}", page.display());

        let out = run("man", &["--warnings", "-l"], page);
        assert!(
            out.status.success(),
            "{}: {}",
            page.display(),
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "man -l on {}", page.display());
        let rendered = text(&out.stdout);
        assert!(rendered.contains("NAME"), "{rendered}");
        assert!(rendered.contains("distcache-rs"), "{rendered}");
    }
}

/// `man -l` of a generated page, as text.
fn rendered(dir: &Path, page: &str) -> String {
    let out = run("man", &["-l"], &dir.join("man").join(page));
    assert!(out.status.success(), "{page}: {}", text(&out.stderr));
    // Pages are 80 columns wide: join hyphenated and wrapped words back.
    text(&out.stdout)
        .replace("\u{2010}\n", "")
        .replace("-\n", "-")
}

#[test]
fn each_program_page_documents_every_option_and_both_spellings() {
    let (dir, _files) = generate();
    for program in &PROGRAMS {
        let page = rendered(dir.path(), &format!("{}.1", program.name));
        let flat: String = page.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut command = program.command();
        command.build();
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                assert!(
                    flat.contains(&format!("--{long}")),
                    "{}: --{long} missing",
                    program.name
                );
            }
        }
        for needle in [
            "are the same option",
            "EXIT STATUS",
            "ENVIRONMENT",
            "RUST_LOG",
            "distcache(8)",
        ] {
            assert!(
                flat.contains(needle),
                "{}: {needle:?} missing in\n{page}",
                program.name
            );
        }
        let first_line = format!("{} - ", program.name);
        assert!(flat.contains(&first_line), "{}: NAME line", program.name);
    }
}

#[test]
fn the_overview_covers_the_tools_protocols_files_and_signals() {
    let (dir, _files) = generate();
    let page = rendered(dir.path(), "distcache.8");
    let flat: String = page.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "dc_server(1)",
        "dc_client(1)",
        "dc_test(1)",
        "dc_snoop(1)",
        "RESP2",
        "memcache",
        "distcache 1.x",
        "/etc/default/dc_server",
        "/etc/default/dc_client",
        "dc_server.service",
        "SIGTERM",
        "-killable",
        "EXIT STATUS",
        "SSLSessionCache",
        "TLSSessionCache",
        "2025-12-02",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(flat.contains(needle), "{needle:?} missing in\n{page}");
    }
    assert!(!flat.contains('@'), "a placeholder left: {page}");
}

fn completions(files: &[PathBuf], shell: &str) -> Vec<PathBuf> {
    let found: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.parent().is_some_and(|d| d.ends_with(shell)))
        .cloned()
        .collect();
    assert_eq!(found.len(), PROGRAMS.len(), "{shell}: {found:?}");
    found
}

#[test]
fn every_shell_parses_its_completions() {
    let (_dir, files) = generate();
    for (shell, args) in [
        ("bash", &["-n"][..]),
        ("zsh", &["-n"][..]),
        ("fish", &["--no-config", "--no-execute"][..]),
    ] {
        for file in completions(&files, shell) {
            let out = run(shell, args, &file);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{shell} -n {}: {}",
                file.display(),
                text(&out.stderr)
            );
        }
    }
}

/// The long options of `program` that start with `prefix`, as `--name`.
fn longs_starting(program: &dc_docgen::Program, prefix: &str) -> BTreeSet<String> {
    let mut command = program.command();
    command.build();
    command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .filter(|l| l.starts_with(prefix))
        .collect()
}

/// What each program's completion is asked for: the first three letters of
/// its first option (`--lis` for dc_server: --listen, --listen-redis,
/// --listen-memcache).
fn prefix_of(program: &dc_docgen::Program) -> String {
    let command = program.command();
    let long = command
        .get_arguments()
        .find_map(|a| a.get_long())
        .expect("every program has a long option");
    format!("--{}", &long[..3])
}

#[test]
fn bash_completes_the_options() {
    let (dir, _files) = generate();
    for program in &PROGRAMS {
        let prefix = prefix_of(program);
        let file = dir.path().join("completions/bash").join(program.name);
        // bash-completion calls the function with the command, the word
        // being completed and the one before it.
        let script = format!(
            "source \"$1\"; COMP_WORDS=({name} {prefix}); COMP_CWORD=1; \
             _{name} {name} {prefix} {name}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            name = program.name
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &script, "bash"])
            .arg(&file)
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let offered: BTreeSet<String> = text(&out.stdout).lines().map(str::to_string).collect();
        let expected = longs_starting(program, &prefix);
        assert!(!expected.is_empty(), "{prefix}");
        assert_eq!(offered, expected, "{}", program.name);
    }
}

#[test]
fn fish_completes_the_options() {
    let (dir, _files) = generate();
    for program in &PROGRAMS {
        let prefix = prefix_of(program);
        let file = dir
            .path()
            .join(format!("completions/fish/{}.fish", program.name));
        let script = format!("source $argv[1]; complete -C '{} {prefix}'", program.name);
        let out = Command::new("fish")
            .args(["--no-config", "-c", &script])
            .arg(&file)
            .output()
            .expect("fish runs (Debian package fish)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Each candidate is "--option<TAB>its help".
        let offered: BTreeSet<String> = text(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(l).to_string())
            .collect();
        let expected = longs_starting(program, &prefix);
        assert!(!expected.is_empty(), "{prefix}");
        assert_eq!(offered, expected, "{}", program.name);
    }
}
