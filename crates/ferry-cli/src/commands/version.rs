//! `ferry version [--json]`: what this binary is (see [`crate::build_info`]).

use std::io::Write as _;

use crate::build_info;
use crate::cli::VersionArgs;

/// Runs `ferry version`.
pub fn run(args: &VersionArgs) -> anyhow::Result<i32> {
    if args.json {
        crate::json::print(&build_info::get())?;
    } else {
        writeln!(std::io::stdout(), "ferry {}", build_info::VERSION_LINE)?;
    }
    Ok(crate::exit::OK)
}
