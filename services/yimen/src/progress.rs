//! How a long operation (a bench, a chaos run, resealing the stores) tells its progress, on
//! stderr: while stderr is a terminal, a bar per counted step (indicatif) with messages printed
//! above the bars; otherwise — a log, CI — each message as a line and each step at most once a
//! second, so a log stays readable.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A handle on the progress of one operation; clones share it.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where bars draw: None when stderr is no terminal, or nothing is to be shown.
    bars: Option<MultiProgress>,
    /// Whether anything is shown at all.
    shown: bool,
    steps: Mutex<HashMap<String, Step>>,
}

enum Step {
    Bar(ProgressBar),
    /// When the step's last line was written.
    Line(Instant),
}

/// Steps not drawn as bars are told at most this often.
const LINE_EVERY: Duration = Duration::from_secs(1);

impl Progress {
    /// On stderr: bars on a terminal, lines elsewhere.
    pub fn stderr() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self::new(bars, true)
    }

    /// Nothing shown (tests).
    pub fn silent() -> Self {
        Self::new(None, false)
    }

    fn new(bars: Option<MultiProgress>, shown: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                bars,
                shown,
                steps: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A message, on a line of its own.
    pub fn say(&self, line: &str) {
        if !self.inner.shown {
            return;
        }
        match &self.inner.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// `done` of `total` of the step `what` (e.g. "submitted"); a step's first call starts its
    /// bar.
    pub fn step(&self, what: &str, done: u64, total: u64) {
        if !self.inner.shown {
            return;
        }
        let mut steps = self.inner.steps.lock().unwrap_or_else(|e| e.into_inner());
        match steps.get_mut(what) {
            Some(Step::Bar(bar)) => bar.set_position(done),
            Some(Step::Line(last)) => {
                if last.elapsed() >= LINE_EVERY || done >= total {
                    *last = Instant::now();
                    eprintln!("  {what} {done}/{total}");
                }
            }
            None => {
                let step = match &self.inner.bars {
                    Some(bars) => {
                        let bar = bars.add(ProgressBar::new(total));
                        bar.set_style(style());
                        bar.set_prefix(what.to_string());
                        bar.set_position(done);
                        Step::Bar(bar)
                    }
                    None => {
                        eprintln!("  {what} {done}/{total}");
                        Step::Line(Instant::now())
                    }
                };
                steps.insert(what.to_string(), step);
            }
        }
    }

    /// The step `what` is over: its bar stays at its last count.
    pub fn finish(&self, what: &str) {
        let mut steps = self.inner.steps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Step::Bar(bar)) = steps.remove(what) {
            bar.abandon();
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:>10} [{bar:30}] {pos}/{len} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_off_a_terminal_is_told_at_most_once_a_second_and_at_its_end() {
        let progress = Progress::new(None, true);
        progress.step("submitted", 1, 10);
        progress.step("submitted", 2, 10);
        let steps = progress.inner.steps.lock().unwrap();
        let Some(Step::Line(first)) = steps.get("submitted") else {
            panic!("a line step");
        };
        let first = *first;
        drop(steps);
        progress.step("submitted", 10, 10);
        let steps = progress.inner.steps.lock().unwrap();
        let Some(Step::Line(last)) = steps.get("submitted") else {
            panic!("a line step");
        };
        assert!(*last > first, "the last count is told whatever the time");
    }

    #[test]
    fn a_silent_progress_keeps_no_steps() {
        let progress = Progress::silent();
        progress.step("assigned", 1, 2);
        progress.say("nothing");
        assert!(progress.inner.steps.lock().unwrap().is_empty());
    }
}
