//! The one writer of plain mode's output, on its own thread so that a slow
//! or blocked terminal never stalls the event task. Every line is cleaned
//! of control characters here (lesson text, cluster names, checker
//! reasons alike); only the clipboard's OSC 52 sequence is written as is.
//!
//! The writer also paces input: after the reply to a command it prints the
//! prompt (when the learner types at a terminal) and lets the reader take
//! the next line, so replies never interleave and nothing is read while a
//! shell owns the terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// What a line is, for the optional colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Heading,
    Done,
    Failing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutLine {
    pub tone: Tone,
    pub text: String,
}

impl OutLine {
    pub fn plain(text: impl Into<String>) -> OutLine {
        OutLine {
            tone: Tone::Plain,
            text: text.into(),
        }
    }

    pub fn toned(tone: Tone, text: impl Into<String>) -> OutLine {
        OutLine {
            tone,
            text: text.into(),
        }
    }
}

enum Msg {
    /// The answer to a command (or the opening text); `then_read`: print
    /// the prompt and let the next line be read.
    Reply {
        lines: Vec<OutLine>,
        then_read: bool,
    },
    /// News while the learner may be typing.
    Announce(Vec<OutLine>),
    /// Written as is (the OSC 52 clipboard sequence).
    Raw(String),
    /// Answered once everything before it is written.
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// How the writer writes.
pub struct OutputConfig {
    /// Shown when waiting for a command; `None` when input is not a
    /// terminal (scripts see only the text).
    pub prompt: Option<String>,
    /// Bold headings, green done, red failing (`CLICOLOR_FORCE`).
    pub colour: bool,
    /// One token per line the reader may read.
    pub permits: mpsc::Sender<()>,
    /// Set while the prompt waits for the learner (the reader clears it
    /// when a line arrives): news then goes on a line of its own.
    pub waiting: Arc<AtomicBool>,
    /// Told once when writing fails (the terminal or pipe went away).
    pub on_error: Box<dyn Fn(String) + Send>,
}

/// The handle on the writer thread.
pub struct Output {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Output {
    pub fn spawn(out: Box<dyn Write + Send>, cfg: OutputConfig) -> std::io::Result<Output> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("plain-output".into())
            .spawn(move || writer(out, cfg, rx))?;
        Ok(Output {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, m: Msg) {
        if let Some(tx) = &self.tx {
            // The writer only stops once `finish` dropped the sender.
            let _ = tx.send(m);
        }
    }

    pub fn reply(&self, lines: Vec<OutLine>, then_read: bool) {
        self.send(Msg::Reply { lines, then_read });
    }

    pub fn announce(&self, lines: Vec<OutLine>) {
        if !lines.is_empty() {
            self.send(Msg::Announce(lines));
        }
    }

    pub fn raw(&self, text: String) {
        self.send(Msg::Raw(text));
    }

    /// Resolves once everything queued so far is written (before another
    /// program takes the terminal).
    pub async fn sync(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Sync(tx));
        let _ = rx.await;
    }

    /// Writes what is queued and stops the thread.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn writer(mut out: Box<dyn Write + Send>, cfg: OutputConfig, rx: mpsc::Receiver<Msg>) {
    let mut failed = false;
    let mut prompt_shown = false;
    while let Ok(msg) = rx.recv() {
        let mut buf = String::new();
        let mut permit = false;
        match msg {
            Msg::Reply { lines, then_read } => {
                // A reply follows the learner's Enter: the prompt line is over.
                prompt_shown = false;
                push_lines(&mut buf, &lines, cfg.colour);
                if then_read {
                    if let Some(p) = &cfg.prompt {
                        buf.push_str(p);
                        prompt_shown = true;
                        cfg.waiting.store(true, Ordering::SeqCst);
                    }
                    permit = true;
                }
            }
            Msg::Announce(lines) => {
                let at_prompt = prompt_shown && cfg.waiting.load(Ordering::SeqCst);
                if at_prompt {
                    buf.push('\n');
                }
                push_lines(&mut buf, &lines, cfg.colour);
                if at_prompt && let Some(p) = &cfg.prompt {
                    buf.push_str(p);
                }
            }
            Msg::Raw(s) => buf.push_str(&s),
            Msg::Sync(done) => {
                let _ = out.flush();
                let _ = done.send(());
                continue;
            }
        }
        if !failed && let Err(e) = out.write_all(buf.as_bytes()).and_then(|()| out.flush()) {
            failed = true;
            (cfg.on_error)(e.to_string());
        }
        if permit {
            let _ = cfg.permits.send(());
        }
    }
}

fn push_lines(buf: &mut String, lines: &[OutLine], colour: bool) {
    for l in lines {
        for part in l.text.split('\n') {
            let text = clean(part);
            match (colour, l.tone) {
                (true, Tone::Heading) => buf.push_str(&format!("\x1b[1m{text}\x1b[0m")),
                (true, Tone::Done) => buf.push_str(&format!("\x1b[32m{text}\x1b[0m")),
                (true, Tone::Failing) => buf.push_str(&format!("\x1b[31m{text}\x1b[0m")),
                _ => buf.push_str(&text),
            }
            buf.push('\n');
        }
    }
}

/// The text without control characters (escape sequences, carriage
/// returns, bells) nor the invisible marks that reorder text (bidi
/// controls): tabs become four spaces.
pub fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let n = if c == '\t' { 4 } else { 1 };
            std::iter::repeat_n(if c == '\t' { ' ' } else { c }, n)
        })
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn output(prompt: bool) -> (Output, Shared, mpsc::Receiver<()>, Arc<AtomicBool>) {
        let sink = Shared::default();
        let (permits, rx) = mpsc::channel();
        let waiting = Arc::new(AtomicBool::new(false));
        let out = Output::spawn(
            Box::new(sink.clone()),
            OutputConfig {
                prompt: prompt.then(|| "> ".to_owned()),
                colour: false,
                permits,
                waiting: waiting.clone(),
                on_error: Box::new(|_| {}),
            },
        )
        .unwrap();
        (out, sink, rx, waiting)
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[31mb\x07c\rd\u{202e}e\tf"), "a[31mbcde    f");
        let (out, sink, _rx, _) = output(false);
        out.reply(vec![OutLine::plain("x\x1b]52;c;AA\x07y\nz")], false);
        out.finish();
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "x]52;c;AAy\nz\n"
        );
    }

    #[test]
    fn the_prompt_comes_after_replies_and_news_gets_its_own_line() {
        let (out, sink, permits, waiting) = output(true);
        out.reply(vec![OutLine::plain("hello")], true);
        permits.recv().unwrap();
        out.announce(vec![OutLine::plain("Step 1 done.")]);
        futures::executor::block_on(out.sync());
        // The learner typed a line: the reader clears `waiting`.
        waiting.store(false, Ordering::SeqCst);
        out.reply(vec![OutLine::plain("reply")], false);
        out.finish();
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "hello\n> \nStep 1 done.\n> reply\n"
        );
    }

    #[test]
    fn without_a_terminal_there_is_no_prompt_but_still_a_permit() {
        let (out, sink, permits, _) = output(false);
        out.reply(vec![OutLine::plain("a")], true);
        permits.recv().unwrap();
        out.announce(vec![OutLine::plain("b")]);
        out.finish();
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "a\nb\n"
        );
    }
}
