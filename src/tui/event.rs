//! Everything the UI task reacts to, funnelled through one channel.

use crate::check::engine::Highlights;
use crate::cluster::ClusterUpdate;
use crate::cluster::connection::ConnectionState;
use crate::progress::StepState;
use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseEvent};
use tokio::sync::mpsc;

/// How far along the connection to the cluster is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnState {
    #[default]
    NotConnected,
    Connecting,
    Connected,
    /// The watchers lost the server and are retrying, with why.
    Reconnecting(String),
    /// Lost or failed, with what went wrong.
    Error(String),
}

impl ConnState {
    /// A short word for `kubetutor status` and the status file.
    pub fn label(&self) -> String {
        match self {
            ConnState::NotConnected => "not connected".into(),
            ConnState::Connecting => "connecting".into(),
            ConnState::Connected => "connected".into(),
            ConnState::Reconnecting(r) => format!("reconnecting: {r}"),
            ConnState::Error(e) => format!("failed: {e}"),
        }
    }
}

impl From<&ConnectionState> for ConnState {
    fn from(s: &ConnectionState) -> ConnState {
        match s {
            ConnectionState::Connecting => ConnState::Connecting,
            ConnectionState::Connected => ConnState::Connected,
            ConnectionState::Reconnecting { reason } => ConnState::Reconnecting(reason.clone()),
            ConnectionState::Failed { reason } => ConnState::Error(reason.clone()),
        }
    }
}

/// What the status bar and the cluster pane say about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `sandbox` or the kubeconfig context name; empty when none yet.
    pub context: String,
    /// The kubeconfig a learner exports to reach the same cluster (the
    /// sandbox's own for the sandbox).
    pub kubeconfig: Option<std::path::PathBuf>,
    pub namespace: String,
    pub state: ConnState,
}

impl Default for ConnectionInfo {
    fn default() -> Self {
        Self {
            context: String::new(),
            kubeconfig: None,
            namespace: "default".into(),
            state: ConnState::NotConnected,
        }
    }
}

/// What the cluster pane shows. A placeholder until the cluster issue
/// brings the real view model (pods, PVCs, PVs and their links).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    pub lines: Vec<String>,
}

/// News from the cluster watchers.
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    Connection(ConnectionInfo),
    /// A text-only view (tests, or a cluster without watchers).
    View(ClusterView),
    /// One update of the session's watchers, applied to the app's snapshot.
    Update(ClusterUpdate),
    /// What the active step is about, from the checker.
    Highlights(Highlights),
}

pub use crate::shell::session::ShellEvent;

impl From<ShellEvent> for AppEvent {
    fn from(e: ShellEvent) -> Self {
        AppEvent::Shell(e)
    }
}

impl From<crate::classroom::ClassroomEvent> for AppEvent {
    fn from(e: crate::classroom::ClassroomEvent) -> Self {
        AppEvent::Classroom(e)
    }
}

/// One event for `App::update`.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    Resize(u16, u16),
    /// The 1 Hz clock, sent only while something on screen shows a time.
    Tick,
    /// SIGTERM, SIGINT or SIGHUP.
    Quit,
    Cluster(ClusterEvent),
    /// A checker verdict for one step: what is missing or wrong, and the
    /// live hint whose condition holds now.
    Check {
        lesson: String,
        step: String,
        state: StepState,
        reason: Option<String>,
        hint: Option<String>,
    },
    Shell(ShellEvent),
    /// News from the classroom the learner joined (see `crate::classroom`).
    Classroom(crate::classroom::ClassroomEvent),
}

impl AppEvent {
    /// The events worth waking the UI for (key presses, not releases).
    pub fn from_terminal(ev: Event) -> Option<AppEvent> {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => Some(AppEvent::Key(k)),
            Event::Mouse(m) => Some(AppEvent::Mouse(m)),
            Event::Paste(p) => Some(AppEvent::Paste(p)),
            Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
            _ => None,
        }
    }
}

/// The UI's event channel. Create it first, hand clones of `sender()` to
/// the producers (cluster watchers, checker), then pass it in `TuiConfig`.
#[derive(Debug)]
pub struct EventChannel {
    pub(crate) tx: mpsc::Sender<AppEvent>,
    pub(crate) rx: mpsc::Receiver<AppEvent>,
}

impl EventChannel {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(1024);
        Self { tx, rx }
    }

    pub fn sender(&self) -> mpsc::Sender<AppEvent> {
        self.tx.clone()
    }
}

impl Default for EventChannel {
    fn default() -> Self {
        Self::new()
    }
}
