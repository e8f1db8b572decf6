//! The terminal every full-screen interface shares (the learner's TUI and
//! the instructor's grid): the guard that enters raw mode and the
//! alternate screen and restores them on every way out, and the colour
//! theme.

pub mod guard;
pub mod theme;
