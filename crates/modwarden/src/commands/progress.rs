//! The one progress drawer. Libraries report through a `Reporter` trait of
//! one shape (`doctor::Reporter` for the module cache, `store::maint::Reporter`
//! for a proxy store: `start(phase, total)`, `advance(n)`, `finish()`,
//! `note(message)`), as uv's libraries do; only the binary draws, here, with
//! indicatif. `warm`, whose work is the binary's own, draws through it too.

use std::io::IsTerminal as _;

/// Progress bars on stderr, hidden when it is not a terminal or the output
/// is JSON; `note`s print as lines above the bar when echoing is on.
pub(super) struct Progress {
    bar: indicatif::ProgressBar,
    label_width: usize,
    echo: bool,
    filter: fn(&str) -> bool,
}

impl Progress {
    /// A drawer showing bars if `show_bar` (and stderr is a terminal), not
    /// echoing notes.
    pub(super) fn new(show_bar: bool) -> Progress {
        let bar = if show_bar && std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress {
            bar,
            label_width: 10,
            echo: false,
            filter: |_| true,
        }
    }

    /// Prints the notes for which `filter` is true.
    pub(super) fn echo_notes(mut self, filter: fn(&str) -> bool) -> Progress {
        self.echo = true;
        self.filter = filter;
        self
    }

    /// Right-aligns phase names in `width` columns (so the bars of
    /// consecutive phases line up).
    pub(super) fn label_width(mut self, width: usize) -> Progress {
        self.label_width = width;
        self
    }

    /// A phase begins: `<phase> [=====>    ] pos/len elapsed`.
    pub(super) fn start(&self, phase: &str, total: Option<u64>) {
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        let w = self.label_width;
        let template = format!("{{msg:>{w}}} [{{bar:40}}] {{pos}}/{{len}} {{elapsed}}");
        self.bar.set_style(
            indicatif::ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.bar.set_message(phase.to_string());
    }

    pub(super) fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub(super) fn note(&self, message: &str) {
        if self.echo && (self.filter)(message) {
            self.bar.suspend(|| eprintln!("{message}"));
        }
    }
}

impl doctor::Reporter for Progress {
    fn start(&self, phase: &str, total: Option<u64>) {
        Progress::start(self, phase, total);
    }
    fn advance(&self, n: u64) {
        Progress::advance(self, n);
    }
    fn finish(&self) {
        Progress::finish(self);
    }
    fn note(&self, message: &str) {
        Progress::note(self, message);
    }
}

impl store::maint::Reporter for Progress {
    fn start(&self, phase: &str, total: Option<u64>) {
        Progress::start(self, phase, total);
    }
    fn advance(&self, n: u64) {
        Progress::advance(self, n);
    }
    fn finish(&self) {
        Progress::finish(self);
    }
    fn note(&self, message: &str) {
        Progress::note(self, message);
    }
}
