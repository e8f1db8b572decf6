//! The split-pane terminal UI.
