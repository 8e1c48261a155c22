//! Shell completions (clap_complete) for bash, zsh and fish.
//!
//! They complete the double-dash spellings (`--listen`), which every
//! program accepts beside the original's single-dash ones.

use std::path::PathBuf;

use clap_complete::Shell;

use crate::programs::Program;

/// The shells completions are written for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Where a completion file goes under the output directory, named as each
/// shell's completion directory expects it: bash-completion loads
/// `completions/<command>` on first use, zsh's `$fpath` wants `_<command>`,
/// fish's `vendor_completions.d` wants `<command>.fish`.
pub fn relative_path(shell: Shell, program: &str) -> PathBuf {
    let file = match shell {
        Shell::Bash => program.to_string(),
        Shell::Zsh => format!("_{program}"),
        Shell::Fish => format!("{program}.fish"),
        other => format!("{program}.{other}"),
    };
    PathBuf::from("completions")
        .join(shell.to_string())
        .join(file)
}

/// The completion script of `program` for `shell`.
pub fn script(shell: Shell, program: &Program) -> Vec<u8> {
    let mut command = program.command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, program.name, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_for_the_shells_directories() {
        assert_eq!(
            relative_path(Shell::Bash, "dc_server"),
            PathBuf::from("completions/bash/dc_server")
        );
        assert_eq!(
            relative_path(Shell::Zsh, "dc_server"),
            PathBuf::from("completions/zsh/_dc_server")
        );
        assert_eq!(
            relative_path(Shell::Fish, "dc_server"),
            PathBuf::from("completions/fish/dc_server.fish")
        );
    }
}
