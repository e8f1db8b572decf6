//! The live status file (`<data-dir>/session.json`) that lets
//! `kubetutor status` and scripts see what the running UI sees: the
//! connection, the current step and every step's live state. Written by a
//! thread so that a slow disk never blocks the UI; each write is atomic.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Where the running UI publishes its status.
pub fn session_file(data_dir: &Path) -> PathBuf {
    data_dir.join("session.json")
}

/// Publishes status documents from the UI task; only the latest pending one
/// is written.
pub struct StatusWriter {
    tx: Option<mpsc::Sender<Value>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    last: Option<Value>,
}

impl StatusWriter {
    pub fn spawn(path: PathBuf) -> std::io::Result<StatusWriter> {
        let (tx, rx) = mpsc::channel::<Value>();
        let target = path.clone();
        let thread = std::thread::Builder::new()
            .name("status-writer".into())
            .spawn(move || {
                while let Ok(mut doc) = rx.recv() {
                    // Skip to the newest document.
                    while let Ok(newer) = rx.try_recv() {
                        doc = newer;
                    }
                    let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
                    if let Err(e) = crate::paths::write_atomic(&target, &bytes) {
                        tracing::warn!("cannot write {}: {e}", target.display());
                    }
                }
            })?;
        Ok(StatusWriter {
            tx: Some(tx),
            thread: Some(thread),
            path,
            last: None,
        })
    }

    /// Queue `doc` unless it is what was last queued.
    pub fn publish(&mut self, doc: Value) {
        if self.last.as_ref() == Some(&doc) {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(doc.clone());
        }
        self.last = Some(doc);
    }

    /// Wait for the writes, then remove the file: nothing runs any more.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The status a running UI published, if its process is still alive.
pub fn read_live(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    let pid = doc.get("pid")?.as_u64()?;
    pid_alive(pid).then_some(doc)
}

fn pid_alive(pid: u64) -> bool {
    let proc = Path::new("/proc");
    if proc.is_dir() {
        return proc.join(pid.to_string()).exists();
    }
    // No procfs (macOS): ask kill(1) whether the process exists.
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_read_while_alive_and_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        let mut w = StatusWriter::spawn(path.clone()).unwrap();
        w.publish(serde_json::json!({"pid": std::process::id(), "n": 1}));
        w.publish(serde_json::json!({"pid": std::process::id(), "n": 2}));
        // Wait for the writer (bounded by the test harness' own timeout).
        let doc = loop {
            if let Some(d) = read_live(&path)
                && d["n"] == 2
            {
                break d;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(doc["n"], 2);
        w.finish();
        assert!(!path.exists());
    }

    #[test]
    fn a_dead_writer_is_not_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        std::fs::write(&path, r#"{"pid": 4294967295}"#).unwrap();
        assert!(read_live(&path).is_none());
        std::fs::write(&path, "not json").unwrap();
        assert!(read_live(&path).is_none());
    }
}
