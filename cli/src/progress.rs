//! How far a long command (a copy, an import) has got: a bar on a terminal, and a plain line
//! now and then otherwise (a log, a CI job), always on standard error so that standard
//! output stays the command's result.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

/// A plain line every this many items when standard error is not a terminal.
const EVERY: u64 = 10_000;

/// The progress of one command.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    done: u64,
}

impl Progress {
    /// Counts `what` (e.g. "records read"), out of `total` if known.
    pub(crate) fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({per_sec}, {eta} left)")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {pos} {msg} ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(what);
            bar
        });
        Self { bar, what, done: 0 }
    }

    /// `n` more done.
    pub(crate) fn advance(&mut self, n: u64) {
        let before = self.done;
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if before / EVERY != self.done / EVERY => eprintln!("{} {}", self.done, self.what),
            None => {}
        }
    }

    /// Clears the bar; the command prints its summary after.
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
