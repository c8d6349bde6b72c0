//! `ferry completions SHELL` and `ferry manpages DIR`: shell completion scripts and man pages,
//! generated from the command-line grammar itself (clap_complete, clap_mangen), so they never
//! drift from what the binary accepts. `cargo xtask dist` ships both beside the binary.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManpagesArgs};

/// Prints the completion script for one shell on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    // Generated in memory: clap_complete panics on a write error, and a closed stdout
    // (`ferry completions bash | head`) is not an error.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "ferry", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(crate::exit::OK)
}

/// Writes `ferry.1` and `ferry-<command>.1` for each command into the directory.
pub fn manpages(args: &ManpagesArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create the directory {}", args.dir.display()))?;
    let command = Cli::command();
    let written = write_pages(&command, "ferry", &args.dir)?;
    crate::exit::note!(
        "wrote {written} man pages into {} (e.g. man -l {})",
        args.dir.display(),
        args.dir.join("ferry.1").display()
    );
    Ok(crate::exit::OK)
}

/// Writes the page of `command` (named `name`) and of each of its subcommands, returning how
/// many pages were written.
fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<usize> {
    // Each page is titled `ferry-cp` and its synopsis reads `ferry cp …`, not `cp …`.
    let command = command
        .clone()
        .display_name(name.to_string())
        .bin_name(name.replace('-', " "));
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .with_context(|| format!("cannot render the man page {name}.1"))?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        written += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(written)
}
