//! The split-pane terminal UI.
//!
//! One task owns the state (`app::App`); every input (keys, signals,
//! timers, cluster watchers, the checker) arrives as an `event::AppEvent`
//! on one channel, and the screen is drawn only when an event changed
//! something. Entry point: `run::run`.

pub mod app;
pub mod event;
pub mod highlight;
pub mod live;
pub mod markdown;
pub mod page;
pub mod pane;
pub mod run;
pub mod strings;
pub use crate::term::guard as terminal;
pub use crate::term::theme;
pub mod ui;

pub use app::{App, Redraw, ShellSetup};
pub use event::{
    AppEvent, ClusterEvent, ClusterView, ConnState, ConnectionInfo, EventChannel, ShellEvent,
};
pub use run::{TuiConfig, run};
pub use theme::Theme;
