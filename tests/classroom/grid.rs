//! The instructor's grid in tmux: filled in below.
