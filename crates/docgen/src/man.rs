//! The man pages: one per program in section 1, from its clap command, and
//! the distcache(8) overview.
//!
//! clap_mangen renders the title, NAME, SYNOPSIS and the option lists; the
//! rest is ours: DESCRIPTION (the long help without its first paragraph,
//! which is NAME, plus how options are spelled), EXIT STATUS, SIGNALS,
//! ENVIRONMENT, FILES, NOTES (the help's closing text: examples, address
//! forms) and SEE ALSO.

use clap::Command;
use clap_mangen::Man;
use roff::{bold, italic, roman, Roff};

use crate::programs::{Item, Program, PROGRAMS};

/// The overview page, hand-written; `@DATE@` and `@VERSION@` in its title
/// line are filled in.
const OVERVIEW: &str = include_str!("../man/distcache.8");

/// Every page's title line says where it comes from.
const MANUAL: &str = "distcache";

/// What the roff crate writes at the start of every rendering (the `Aq`
/// string that keeps apostrophes straight). The sections are rendered one
/// by one, so all but the first have it removed.
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

fn source() -> String {
    format!("distcache-rs {}", env!("CARGO_PKG_VERSION"))
}

/// The section 1 page of `program`, dated `date`.
pub fn program_page(program: &Program, date: &str) -> Vec<u8> {
    let command = program.command();
    let long_about = command
        .get_long_about()
        .or_else(|| command.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut paragraphs = long_about
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let summary = paragraphs.next().unwrap_or(program.name);
    let description: Vec<&str> = paragraphs.collect();
    let after_help = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(|s| s.to_string());

    let man_command = &command.clone();
    // NAME reads "dc_server - the distcache ... server".
    let man = Man::new(command.about(name_line(summary)))
        .title(program.name.to_uppercase())
        .section("1")
        .date(date)
        .source(source())
        .manual(MANUAL);

    let mut page = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render_title(&mut page);
    let mut section = |render: &dyn Fn(&mut Vec<u8>)| {
        let mut buf = Vec::new();
        render(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        page.extend_from_slice(text.strip_prefix(ROFF_PREAMBLE).unwrap_or(&text).as_bytes());
    };
    section(&|w| {
        let _ = man.render_name_section(w);
    });
    section(&|w| {
        let _ = man.render_synopsis_section(w);
    });
    section(&|w| render_roff(w, &description_section(&description, man_command)));
    section(&|w| {
        let _ = man.render_options_section(w);
    });
    section(&|w| render_roff(w, &list_section("EXIT STATUS", program.exit_status)));
    if !program.signals.is_empty() {
        section(&|w| render_roff(w, &list_section("SIGNALS", program.signals)));
    }
    section(&|w| render_roff(w, &environment_section()));
    if !program.files.is_empty() {
        section(&|w| render_roff(w, &list_section("FILES", program.files)));
    }
    section(&|w| {
        let _ = man.render_version_section(w);
    });
    if let Some(notes) = &after_help {
        section(&|w| render_roff(w, &notes_section(notes)));
    }
    section(&|w| render_roff(w, &see_also_section(program.name)));
    page
}

/// distcache(8), dated `date`.
pub fn overview_page(date: &str) -> Vec<u8> {
    OVERVIEW
        .replace("@DATE@", date)
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .into_bytes()
}

/// The help's summary as man pages write it after the dash: lower case
/// first ("the distcache ..."), unless it starts with an acronym.
fn name_line(summary: &str) -> String {
    let summary = summary.trim_end_matches('.');
    let mut chars = summary.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if !second.is_uppercase() => first
            .to_lowercase()
            .chain(summary[first.len_utf8()..].chars())
            .collect(),
        _ => summary.to_string(),
    }
}

fn render_roff(w: &mut Vec<u8>, roff: &Roff) {
    let _ = roff.to_writer(w);
}

fn description_section(paragraphs: &[&str], command: &Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    for paragraph in paragraphs {
        roff.text([roman(*paragraph)]);
        roff.control("PP", []);
    }
    // The spelling rule, shown on the program's first option with a value.
    let example = command.get_arguments().find_map(|arg| {
        let long = arg.get_long()?;
        let value = arg.get_value_names()?.first()?.to_string();
        (!arg.is_hide_set()).then(|| (long.to_string(), value))
    });
    let mut text = vec![];
    match example {
        Some((long, value)) => text.extend([
            bold(format!("-{long} ")),
            italic(value.clone()),
            roman(" (as distcache 1.x spelled it) and "),
            bold(format!("--{long} ")),
            italic(value.clone()),
            roman(" are the same option, and the value may also follow an equals sign ("),
            bold(format!("-{long}=")),
            italic(value),
            roman("). "),
        ]),
        None => text.push(roman(
            "Options take one dash, as distcache 1.x spelled them, or two. ",
        )),
    }
    text.extend([
        bold("-h"),
        roman(" prints a summary of the options; "),
        bold("-help"),
        roman(", "),
        bold("-?"),
        roman(" and "),
        bold("--help"),
        roman(" print the whole help; "),
        bold("-V"),
        roman(" prints the version."),
    ]);
    roff.text(text);
    roff
}

fn list_section(title: &str, items: &[Item]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", [title]);
    for item in items {
        roff.control("TP", []);
        roff.text([bold(item.term)]);
        roff.text([roman(item.text)]);
    }
    roff
}

fn environment_section() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("RUST_LOG")]);
    roff.text([
        roman("Which log lines are written (to standard error, or the "),
        bold("-logfile"),
        roman("): "),
        bold("error"),
        roman(", "),
        bold("warn"),
        roman(", "),
        bold("info"),
        roman(" (the default), "),
        bold("debug"),
        roman(" or "),
        bold("trace"),
        roman(", or per module, as env_logger reads it."),
    ]);
    roff
}

/// The help's closing text: kept line by line, as in `-h`, with the
/// indented lines (command examples) set without filling.
fn notes_section(text: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["NOTES"]);
    let mut in_example = false;
    // A text line follows another: break the line between them (not after
    // the last, where a break before the next heading is a no-op mandoc
    // warns about).
    let mut after_text = false;
    for line in text.lines() {
        let indented = line.starts_with(' ');
        if indented && !in_example {
            roff.control("RS", ["4"]);
            roff.control("nf", []);
        } else if !indented && in_example {
            roff.control("fi", []);
            roff.control("RE", []);
        }
        in_example = indented;
        if line.trim().is_empty() {
            if !in_example {
                roff.control("PP", []);
            }
            after_text = false;
            continue;
        }
        if in_example {
            roff.text([roman(line.trim_start())]);
            after_text = false;
        } else {
            if after_text {
                roff.control("br", []);
            }
            roff.text([roman(line)]);
            after_text = true;
        }
    }
    if in_example {
        roff.control("fi", []);
        roff.control("RE", []);
    }
    roff
}

fn see_also_section(name: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    let mut refs = vec![(MANUAL, "8")];
    refs.extend(
        PROGRAMS
            .iter()
            .filter(|p| p.name != name)
            .map(|p| (p.name, "1")),
    );
    let mut line = Vec::new();
    for (i, (page, section)) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(*page));
        line.push(roman(format!("({section})")));
    }
    roff.text(line);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lines_start_lower_case_unless_an_acronym() {
        assert_eq!(
            name_line("The distcache SSL/TLS session cache server"),
            "the distcache SSL/TLS session cache server"
        );
        assert_eq!(
            name_line("Watch distcache traffic."),
            "watch distcache traffic"
        );
        assert_eq!(name_line("TLS session cache"), "TLS session cache");
    }

    #[test]
    fn notes_keep_examples_unfilled() {
        let roff =
            notes_section("Examples:\n  dc_server -listen IP:9001\nAddresses: IP:port\nAnd: more")
                .to_roff();
        assert_eq!(
            roff,
            ".SH NOTES\nExamples:\n.RS 4\n.nf\ndc_server \\-listen IP:9001\n.fi\n.RE\nAddresses: IP:port\n.br\nAnd: more\n"
        );
    }

    #[test]
    fn each_page_names_the_others() {
        let roff = see_also_section("dc_test").to_roff();
        assert!(roff.contains("distcache"), "{roff}");
        for other in ["dc_server", "dc_client", "dc_snoop"] {
            assert!(roff.contains(other), "{roff}");
        }
        assert!(!roff.contains("dc_test"), "{roff}");
    }
}
