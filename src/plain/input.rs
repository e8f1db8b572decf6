//! Reads the learner's lines from stdin on a thread of its own (a blocking
//! read must not hold up the event task), one line per permit: the writer
//! grants a permit once the previous reply is out, so no line is taken
//! while a shell owns the terminal.

use super::commands::MAX_LINE;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Line(String),
    /// End of input (Ctrl-D, or the end of a script).
    Closed,
    Failed(String),
}

/// Starts the reader. `send` returns false once nobody listens.
pub fn spawn(
    permits: mpsc::Receiver<()>,
    waiting: Arc<AtomicBool>,
    send: impl Fn(Input) -> bool + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("plain-input".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            while permits.recv().is_ok() {
                let read = read_line(&mut stdin.lock(), MAX_LINE);
                waiting.store(false, Ordering::SeqCst);
                let (input, last) = match read {
                    Ok(Some(line)) => (Input::Line(line), false),
                    Ok(None) => (Input::Closed, true),
                    Err(e) => (Input::Failed(e.to_string()), true),
                };
                if !send(input) || last {
                    return;
                }
            }
        })?;
    Ok(())
}

/// One line without its end, at most `max` bytes of it kept (the rest of a
/// longer line is read and dropped). `None` at the end of input.
pub fn read_line(r: &mut impl BufRead, max: usize) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, end) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = end.unwrap_or(buf.len());
        r.consume(used);
        if end.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_the_end_is_seen() {
        let mut r = std::io::Cursor::new(b"next\r\nhint\n".to_vec());
        assert_eq!(read_line(&mut r, 100).unwrap(), Some("next".into()));
        assert_eq!(read_line(&mut r, 100).unwrap(), Some("hint".into()));
        assert_eq!(read_line(&mut r, 100).unwrap(), None);
        let long = format!("{}\nquit", "x".repeat(10_000));
        let mut r = std::io::BufReader::with_capacity(64, std::io::Cursor::new(long));
        assert_eq!(read_line(&mut r, 8).unwrap(), Some("xxxxxxxx".into()));
        assert_eq!(read_line(&mut r, 8).unwrap(), Some("quit".into()));
        assert_eq!(read_line(&mut r, 8).unwrap(), None);
    }
}
