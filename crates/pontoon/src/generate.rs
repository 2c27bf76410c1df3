//! `pontoon completions SHELL` and `pontoon manpages DIR`: shell completions and man pages
//! made from the command line's own definitions (clap_complete, clap_mangen), so they cannot
//! drift from it. The Debian package (scripts/package-deb) installs what they write; anyone
//! who built the binary can run them too.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: Shell) -> anyhow::Result<()> {
    // Made in memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pontoon", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("cannot write the completion script to standard output")
}

/// Writes `pontoon.1` and one page per subcommand (`pontoon-run.1`, `pontoon-admin-add.1`...)
/// into `dir`, which must exist; existing pages of those names are replaced.
pub fn manpages(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    println!("wrote the man pages into {}", dir.display());
    Ok(())
}
