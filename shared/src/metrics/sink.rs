//! Where documents go.

use std::io::Write;
use std::sync::Mutex;

/// Where documents go.
#[derive(Debug, Default)]
pub enum Sink {
    /// Lambda: stdout, which Lambda sends to CloudWatch Logs.
    Stdout,
    /// Nowhere (tests and benchmarks that do not look).
    #[default]
    Discard,
    /// Kept, one line each, for tests to read.
    Memory(Mutex<Vec<String>>),
}

impl Sink {
    pub fn memory() -> Self {
        Sink::Memory(Mutex::new(Vec::new()))
    }

    /// Writes one document (`line`, without its newline).
    pub fn write(&self, mut line: Vec<u8>) {
        match self {
            Sink::Stdout => {
                line.push(b'\n');
                // One write of the whole line under stdout's lock, so it never
                // interleaves with the log lines (written the same way).
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&line).and_then(|()| out.flush());
            }
            Sink::Discard => {}
            Sink::Memory(lines) => {
                let text = String::from_utf8(line).expect("documents are UTF-8");
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(text);
            }
        }
    }

    /// The documents written so far, each taken once (a memory sink's only).
    pub fn take(&self) -> Vec<String> {
        match self {
            Sink::Memory(lines) => {
                std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()))
            }
            _ => Vec::new(),
        }
    }
}
