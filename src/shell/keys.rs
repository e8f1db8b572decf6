//! What a key, a mouse event or a paste becomes on the way to the shell:
//! the bytes xterm would send for it (UTF-8 text, Ctrl and Alt, cursor keys
//! in normal or application mode, function keys with modifiers, mouse
//! reports in the encoding the program asked for, bracketed paste).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

/// What the encoder needs to know about the terminal's modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM: cursor keys send `ESC O A` instead of `ESC [ A`.
    pub app_cursor: bool,
    /// The program asked for bracketed paste (`ESC [ ? 2004 h`).
    pub bracketed_paste: bool,
    pub mouse: MouseMode,
    pub mouse_sgr: bool,
}

/// Which mouse events the program asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MouseMode {
    #[default]
    None,
    Press,
    PressRelease,
    ButtonMotion,
    AnyMotion,
}

impl Modes {
    pub fn of(screen: &vt100::Screen) -> Modes {
        use vt100::{MouseProtocolEncoding as E, MouseProtocolMode as M};
        Modes {
            app_cursor: screen.application_cursor(),
            bracketed_paste: screen.bracketed_paste(),
            mouse: match screen.mouse_protocol_mode() {
                M::None => MouseMode::None,
                M::Press => MouseMode::Press,
                M::PressRelease => MouseMode::PressRelease,
                M::ButtonMotion => MouseMode::ButtonMotion,
                M::AnyMotion => MouseMode::AnyMotion,
            },
            mouse_sgr: screen.mouse_protocol_encoding() == E::Sgr,
        }
    }
}

/// xterm's modifier parameter: 1 + Shift(1) + Alt(2) + Ctrl(4).
fn modifier_param(m: KeyModifiers) -> u8 {
    1 + u8::from(m.contains(KeyModifiers::SHIFT))
        + 2 * u8::from(m.contains(KeyModifiers::ALT))
        + 4 * u8::from(m.contains(KeyModifiers::CONTROL))
}

/// The control byte for Ctrl+`c`, as xterm sends it.
fn ctrl_byte(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        // crossterm reports the bytes 0x1c-0x1f as Ctrl+4..7.
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '/' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

/// The bytes for a key, or nothing for keys a terminal does not send.
pub fn encode_key(k: &KeyEvent, modes: Modes) -> Vec<u8> {
    let m = k.modifiers;
    let alt = m.contains(KeyModifiers::ALT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let with_mods = m.intersects(KeyModifiers::SHIFT | KeyModifiers::ALT | KeyModifiers::CONTROL);
    let mut out = Vec::new();
    // Keys of the `ESC [ ... letter` family (cursor keys, Home, End, F1-F4).
    let letter = |out: &mut Vec<u8>, l: u8, ss3: bool| {
        if with_mods {
            out.extend_from_slice(format!("\x1b[1;{}", modifier_param(m)).as_bytes());
            out.push(l);
        } else if ss3 {
            out.extend_from_slice(&[0x1b, b'O', l]);
        } else {
            out.extend_from_slice(&[0x1b, b'[', l]);
        }
    };
    // Keys of the `ESC [ n ~` family.
    let tilde = |out: &mut Vec<u8>, n: u8| {
        if with_mods {
            out.extend_from_slice(format!("\x1b[{n};{}~", modifier_param(m)).as_bytes());
        } else {
            out.extend_from_slice(format!("\x1b[{n}~").as_bytes());
        }
    };
    match k.code {
        KeyCode::Char(c) => {
            if alt {
                out.push(0x1b);
            }
            match ctrl.then(|| ctrl_byte(c)).flatten() {
                Some(b) => out.push(b),
                None => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        KeyCode::Enter => {
            if alt {
                out.push(0x1b);
            }
            out.push(b'\r');
        }
        KeyCode::Tab => out.push(b'\t'),
        KeyCode::BackTab => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Backspace => {
            if alt {
                out.push(0x1b);
            }
            out.push(if ctrl { 0x08 } else { 0x7f });
        }
        KeyCode::Esc => out.push(0x1b),
        KeyCode::Up => letter(&mut out, b'A', modes.app_cursor),
        KeyCode::Down => letter(&mut out, b'B', modes.app_cursor),
        KeyCode::Right => letter(&mut out, b'C', modes.app_cursor),
        KeyCode::Left => letter(&mut out, b'D', modes.app_cursor),
        KeyCode::Home => letter(&mut out, b'H', modes.app_cursor),
        KeyCode::End => letter(&mut out, b'F', modes.app_cursor),
        KeyCode::Insert => tilde(&mut out, 2),
        KeyCode::Delete => tilde(&mut out, 3),
        KeyCode::PageUp => tilde(&mut out, 5),
        KeyCode::PageDown => tilde(&mut out, 6),
        KeyCode::F(n @ 1..=4) => letter(&mut out, b'P' + (n - 1), true),
        KeyCode::F(n @ 5..=12) => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            tilde(&mut out, code);
        }
        KeyCode::Null => out.push(0),
        _ => {}
    }
    out
}

/// Text pasted (or typed by a lesson's code block) as the shell expects
/// it: line ends as the Enter key sends them, inside bracketed-paste marks
/// when the shell asked for them (so a multi-line block arrives whole and
/// runs only when Enter is pressed). Control characters other than line
/// ends and tabs are dropped, so pasted text can never end the paste early
/// or send escape sequences.
pub fn encode_paste(text: &str, modes: Modes) -> Vec<u8> {
    let mut body = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                body.push('\r');
            }
            '\n' => body.push('\r'),
            '\t' => body.push('\t'),
            c if c.is_control() => {}
            c => body.push(c),
        }
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    if modes.bracketed_paste {
        out.extend_from_slice(b"\x1b[200~");
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b"\x1b[201~");
    } else {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// A mouse event at (`col`, `row`) inside the pane, reported to a program
/// that asked for mouse events; `None` when it did not ask for this kind.
pub fn encode_mouse(ev: &MouseEvent, col: u16, row: u16, modes: Modes) -> Option<Vec<u8>> {
    let button = |b: MouseButton| match b {
        MouseButton::Left => 0u16,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    };
    let (mut code, release, motion) = match ev.kind {
        MouseEventKind::Down(b) => (button(b), false, false),
        MouseEventKind::Up(b) => (button(b), true, false),
        MouseEventKind::Drag(b) => (button(b), false, true),
        MouseEventKind::Moved => (3, false, true),
        MouseEventKind::ScrollUp => (64, false, false),
        MouseEventKind::ScrollDown => (65, false, false),
        MouseEventKind::ScrollLeft => (66, false, false),
        MouseEventKind::ScrollRight => (67, false, false),
    };
    let wanted = match modes.mouse {
        MouseMode::None => false,
        MouseMode::Press => !release && !motion,
        MouseMode::PressRelease => !motion,
        MouseMode::ButtonMotion => !matches!(ev.kind, MouseEventKind::Moved),
        MouseMode::AnyMotion => true,
    };
    if !wanted {
        return None;
    }
    if motion {
        code += 32;
    }
    if ev.modifiers.contains(KeyModifiers::SHIFT) {
        code += 4;
    }
    if ev.modifiers.contains(KeyModifiers::ALT) {
        code += 8;
    }
    if ev.modifiers.contains(KeyModifiers::CONTROL) {
        code += 16;
    }
    let (x, y) = (u32::from(col) + 1, u32::from(row) + 1);
    if modes.mouse_sgr {
        let end = if release { 'm' } else { 'M' };
        return Some(format!("\x1b[<{code};{x};{y}{end}").into_bytes());
    }
    // The X10 encoding: one byte each, so positions past 223 cannot be
    // said; a release does not say which button.
    if release {
        code = 3;
    }
    let byte = |v: u32| u8::try_from(v + 32).ok();
    Some(vec![
        0x1b,
        b'[',
        b'M',
        byte(u32::from(code))?,
        byte(x)?,
        byte(y)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, m: KeyModifiers) -> Vec<u8> {
        encode_key(&KeyEvent::new(code, m), Modes::default())
    }

    #[test]
    fn text_and_control_keys() {
        assert_eq!(k(KeyCode::Char('é'), KeyModifiers::NONE), "é".as_bytes());
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::CONTROL), [3]);
        assert_eq!(k(KeyCode::Char('d'), KeyModifiers::CONTROL), [4]);
        assert_eq!(k(KeyCode::Char('4'), KeyModifiers::CONTROL), [0x1c]);
        assert_eq!(k(KeyCode::Char('b'), KeyModifiers::ALT), b"\x1bb");
        assert_eq!(k(KeyCode::Enter, KeyModifiers::NONE), b"\r");
        assert_eq!(k(KeyCode::Backspace, KeyModifiers::NONE), [0x7f]);
        assert_eq!(k(KeyCode::Tab, KeyModifiers::NONE), b"\t");
        assert_eq!(k(KeyCode::BackTab, KeyModifiers::SHIFT), b"\x1b[Z");
        assert_eq!(k(KeyCode::Esc, KeyModifiers::NONE), b"\x1b");
    }

    #[test]
    fn cursor_and_function_keys_follow_the_modes() {
        assert_eq!(k(KeyCode::Up, KeyModifiers::NONE), b"\x1b[A");
        let app = Modes {
            app_cursor: true,
            ..Modes::default()
        };
        assert_eq!(
            encode_key(&KeyEvent::new(KeyCode::Up, KeyModifiers::NONE), app),
            b"\x1bOA"
        );
        assert_eq!(k(KeyCode::Right, KeyModifiers::CONTROL), b"\x1b[1;5C");
        assert_eq!(k(KeyCode::Home, KeyModifiers::NONE), b"\x1b[H");
        assert_eq!(k(KeyCode::PageUp, KeyModifiers::NONE), b"\x1b[5~");
        assert_eq!(k(KeyCode::Delete, KeyModifiers::SHIFT), b"\x1b[3;2~");
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), b"\x1bOP");
        assert_eq!(k(KeyCode::F(5), KeyModifiers::NONE), b"\x1b[15~");
        assert_eq!(k(KeyCode::F(12), KeyModifiers::ALT), b"\x1b[24;3~");
    }

    #[test]
    fn paste_is_bracketed_only_when_asked_and_cannot_escape() {
        let plain = Modes::default();
        assert_eq!(encode_paste("a\nb\r\nc", plain), b"a\rb\rc");
        let br = Modes {
            bracketed_paste: true,
            ..Modes::default()
        };
        assert_eq!(
            encode_paste("ls\n\x1b[201~rm", br),
            b"\x1b[200~ls\r[201~rm\x1b[201~"
        );
    }

    #[test]
    fn mouse_reports_only_when_asked() {
        let ev = MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(encode_mouse(&ev, 4, 2, Modes::default()), None);
        let sgr = Modes {
            mouse: MouseMode::PressRelease,
            mouse_sgr: true,
            ..Modes::default()
        };
        assert_eq!(
            encode_mouse(&ev, 4, 2, sgr).unwrap(),
            b"\x1b[<64;5;3M".to_vec()
        );
        let x10 = Modes {
            mouse: MouseMode::Press,
            ..Modes::default()
        };
        let down = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            ..ev
        };
        assert_eq!(
            encode_mouse(&down, 0, 0, x10).unwrap(),
            vec![0x1b, b'[', b'M', 32, 33, 33]
        );
        let up = MouseEvent {
            kind: MouseEventKind::Up(MouseButton::Left),
            ..ev
        };
        assert_eq!(encode_mouse(&up, 0, 0, x10), None);
    }
}
