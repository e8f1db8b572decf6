//! Text bound for a terminal: what the cluster or a lesson says (a pod's
//! waiting message, a title from `--course-dir`, an error from the API) is
//! printed without its control characters, so it cannot retitle the
//! terminal, set the clipboard (OSC 52), clear the screen or move the
//! cursor. The TUI is covered by ratatui, which draws no control
//! characters; every command that prints goes through [`Sanitized`] (text)
//! or [`json`] (`--json`).

use std::borrow::Cow;
use std::io::{self, Write};

/// `s` without escape sequences (ESC and the 8-bit CSI/OSC/DCS forms, with
/// their parameters and strings), C0 controls other than tab and newline,
/// DEL and C1 controls.
pub fn strip(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unwanted) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST.
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-character sequences (ESC c, ESC 7...); intermediates first.
                Some(mut n) => {
                    while ('\u{20}'..='\u{2f}').contains(&n) {
                        match chars.next() {
                            Some(next) => n = next,
                            None => break,
                        }
                    }
                }
                None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_unwanted(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_unwanted(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                break;
            }
            _ => {}
        }
    }
}

/// JSON for a terminal: serde_json escapes C0 controls but writes DEL and
/// C1 controls as they are; those are escaped too (`\u009b`).
pub fn json(v: &serde_json::Value) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(v)?;
    if !text.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A writer that strips what [`strip`] strips from every complete line
/// before passing it on (a line is at most [`MAX_LINE`] bytes; longer ones
/// are passed on in pieces).
pub struct Sanitized<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

/// Bytes held back while waiting for the end of a line.
pub const MAX_LINE: usize = 64 * 1024;

impl<W: Write> Sanitized<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(strip(&text).as_bytes())
    }
}

impl<W: Write> Write for Sanitized<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(last + 1)?;
        }
        if self.pending.len() > MAX_LINE {
            // Keep back a character cut in two by the end of `buf`.
            let cut = match std::str::from_utf8(&self.pending) {
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                _ => self.pending.len(),
            };
            self.emit(cut)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.pending.len();
        self.emit(n)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Sanitized<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_stripped() {
        // Retitle, clipboard, clear screen, cursor moves, bell, C1 CSI.
        let evil = "a\u{1b}]0;pwned\u{7}b\u{1b}]52;c;aGk=\u{1b}\\c\u{1b}[2J\u{1b}[1;1Hd\u{7}e\u{9b}31mf\u{1b}cg\r\u{0}h\u{7f}i\u{85}j";
        assert_eq!(strip(evil), "abcdefghij");
        assert_eq!(
            strip("tab\tand\nnewline ünïcødé ✓"),
            "tab\tand\nnewline ünïcødé ✓"
        );
        assert!(matches!(strip("plain"), Cow::Borrowed(_)));
        // An unterminated sequence takes the rest with it, nothing more.
        assert_eq!(strip("x\u{1b}]0;never ends"), "x");
        assert_eq!(strip("x\u{1b}"), "x");
    }

    #[test]
    fn json_escapes_c1_and_del() {
        let v = serde_json::json!({"title": "a\u{9b}2Jb\u{7f}\u{1b}c"});
        let text = json(&v).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("a\\u009b2Jb\\u007f\\u001bc"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn the_writer_strips_across_writes() {
        let mut out = Vec::new();
        {
            let mut w = Sanitized::new(&mut out);
            write!(w, "pod \u{1b}]0;").unwrap();
            writeln!(w, "x\u{7} ready").unwrap();
            write!(w, "tail\u{1b}[2J").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "pod  ready\ntail");
        let mut out = Vec::new();
        {
            let mut w = Sanitized::new(&mut out);
            let long = "é".repeat(MAX_LINE);
            w.write_all(long.as_bytes()).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "é".repeat(MAX_LINE));
    }
}
