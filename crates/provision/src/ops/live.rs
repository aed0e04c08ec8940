//! What apply and destroy show while they run and when they stop: each step's result as it
//! ends (text mode, stdout), progress in apps done of total (a bar on a terminal, bounded-rate
//! lines otherwise), and a record of every step that ended, for a run stopped by Ctrl-C.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::apply::{Observer, Status, StepResult};
use crate::output::Printer;
use crate::render;

pub struct Live<'a> {
    printer: &'a Printer,
    total: usize,
    finished: AtomicUsize,
    /// Steps that ended, in the order they ended.
    ended: Mutex<Vec<StepResult>>,
}

impl<'a> Live<'a> {
    pub fn new(printer: &'a Printer, total_apps: usize) -> Self {
        printer.start_bar(total_apps as u64, "apps");
        Live {
            printer,
            total: total_apps,
            finished: AtomicUsize::new(0),
            ended: Mutex::new(Vec::new()),
        }
    }

    /// The steps that ended so far.
    pub fn ended(&self) -> Vec<StepResult> {
        self.ended.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn finish(&self) {
        self.printer.finish_bar();
    }
}

impl Observer for Live<'_> {
    fn step(&self, _app: Option<&str>, step: &StepResult) {
        if let Ok(mut e) = self.ended.lock() {
            e.push(step.clone());
        }
        if step.status != Status::NotAttempted {
            self.printer.text(&format!("  {}\n", render::step_line(step)));
        }
    }

    fn app_finished(&self, _app: &str) {
        let n = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        match self.printer.bar() {
            Some(bar) => bar.set_position(n as u64),
            None => self
                .printer
                .progress(&format!("{n} of {} apps done", self.total), n == self.total),
        }
    }
}
