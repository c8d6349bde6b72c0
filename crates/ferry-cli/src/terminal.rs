//! Whether standard error is a terminal, and whether to colour it: colour only on a terminal,
//! never with `NO_COLOR` or `CLICOLOR=0` (or `TERM=dumb`), always with `CLICOLOR_FORCE`
//! (not `0`). One decision for the log lines (tracing) and the progress bar (indicatif).

use std::io::IsTerminal;

/// Standard error is a terminal (a person is watching).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Colour escapes may be written to standard error.
pub fn colour_on_stderr() -> bool {
    let var = |name: &str| std::env::var(name).ok();
    colour_wanted(
        stderr_is_terminal(),
        var("NO_COLOR").as_deref(),
        var("CLICOLOR").as_deref(),
        var("CLICOLOR_FORCE").as_deref(),
        var("TERM").as_deref(),
    )
}

/// The rule, apart from the environment.
fn colour_wanted(
    terminal: bool,
    no_color: Option<&str>,
    clicolor: Option<&str>,
    clicolor_force: Option<&str>,
    term: Option<&str>,
) -> bool {
    if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if no_color.is_some_and(|v| !v.is_empty()) || clicolor == Some("0") || term == Some("dumb") {
        return false;
    }
    terminal
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;

    #[test]
    fn colour_only_on_a_terminal_unless_forced() {
        assert!(colour_wanted(true, None, None, None, Some("xterm")));
        assert!(!colour_wanted(false, None, None, None, Some("xterm")));
        assert!(!colour_wanted(true, Some("1"), None, None, None));
        assert!(!colour_wanted(true, None, Some("0"), None, None));
        assert!(!colour_wanted(true, None, None, None, Some("dumb")));
        assert!(colour_wanted(false, Some("1"), None, Some("1"), None));
        assert!(!colour_wanted(false, None, None, Some("0"), None));
    }
}
