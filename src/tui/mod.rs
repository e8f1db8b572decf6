//! The split-pane terminal UI.

pub mod highlight;
pub mod markdown;
pub mod theme;
