//! Drawing: layout, panes, status bar and overlays. `draw` records where
//! things went in `App::view` for mouse hits and paging.

use super::app::{App, Overlay, Pane};
use super::event::ConnState;
use super::page::marker;
use super::strings::{Strings, fill};
use super::theme::Theme;
use crate::progress::StepState;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Padding, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

/// Below this size only a "terminal too small" notice is drawn: under 40
/// columns a pane cannot hold a command line, under 10 rows it shows too
/// few lines of a lesson to follow (README, Troubleshooting).
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;
/// Below this width the side panes move under the instructions.
pub const WIDE: u16 = 100;
/// Rows of the main area from which the shell pane fits beneath the
/// lesson: on a wide terminal (lesson and shell in the left column), and
/// on a narrower one (lesson, shell, then steps and cluster).
pub const SHELL_TALL_WIDE: u16 = 20;
pub const SHELL_TALL: u16 = 30;

pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    app.view = Default::default();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, &app.theme, app.strings());
        return;
    }
    let [main, status] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let p = panes(main, app.focus, app.shell.visible);
    app.view.single_pane = [p.inst, p.steps, p.cluster, p.shell]
        .iter()
        .filter(|p| p.is_some())
        .count()
        == 1;
    app.view.shell_room = shell_room(main);
    if let Some(r) = p.inst {
        draw_instructions(frame, app, r);
    }
    if let Some(r) = p.steps {
        draw_steps(frame, app, r);
    }
    if let Some(r) = p.cluster {
        draw_cluster(frame, app, r);
    }
    if let Some(r) = p.shell {
        draw_shell(frame, app, r);
    }
    draw_status(frame, app, status);
    match app.overlay.clone() {
        Some(Overlay::Help) => draw_help(frame, app, main),
        Some(Overlay::Lessons { selected }) => draw_lessons(frame, app, main, selected),
        Some(Overlay::ConfirmSolution { step }) => draw_confirm(frame, app, main, step),
        Some(Overlay::Notice { text }) => draw_notice(frame, app, main, &text),
        Some(Overlay::Quiz {
            step,
            picked,
            cursor,
            wrong,
        }) => draw_quiz(frame, app, main, step, &picked, cursor, wrong),
        None => {}
    }
}

/// Where each pane goes; `None` for a pane not shown at this size.
#[derive(Debug, Clone, Copy, Default)]
struct Panes {
    inst: Option<Rect>,
    steps: Option<Rect>,
    cluster: Option<Rect>,
    shell: Option<Rect>,
}

/// Whether the shell pane fits beneath the lesson in `main`.
fn shell_room(main: Rect) -> bool {
    if main.width >= WIDE {
        main.height >= SHELL_TALL_WIDE
    } else {
        main.width >= 60 && main.height >= SHELL_TALL
    }
}

/// The lesson area split with the shell beneath it (the shell gets more
/// room while it has the focus).
fn lesson_and_shell(area: Rect, focus: Pane) -> (Rect, Rect) {
    let share = if focus == Pane::Shell { 60 } else { 45 };
    let [top, shell] =
        Layout::vertical([Constraint::Fill(1), Constraint::Percentage(share)]).areas(area);
    (top, shell)
}

fn panes(main: Rect, focus: Pane, shell: bool) -> Panes {
    let beside = shell && shell_room(main);
    // Without room beside the lesson, the focused shell takes the window.
    if shell && !beside && focus == Pane::Shell {
        return Panes {
            shell: Some(main),
            ..Panes::default()
        };
    }
    if main.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)]).areas(main);
        // The focused cluster pane (tables and a lineage) gets more room.
        let share = if focus == Pane::Cluster { 70 } else { 45 };
        let [cluster, steps] =
            Layout::vertical([Constraint::Percentage(share), Constraint::Fill(1)]).areas(right);
        let (inst, sh) = if beside {
            let (i, s) = lesson_and_shell(left, focus);
            (i, Some(s))
        } else {
            (left, None)
        };
        return Panes {
            inst: Some(inst),
            steps: Some(steps),
            cluster: Some(cluster),
            shell: sh,
        };
    }
    if main.height >= 16 && main.width >= 60 {
        // The focused cluster pane (tables and a lineage) gets more room.
        let (bottom, share) = if focus == Pane::Cluster {
            (main.height * 2 / 3, 35)
        } else {
            ((main.height / 3).clamp(6, 10), 60)
        };
        let [top, low] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(bottom)]).areas(main);
        let [steps, cluster] =
            Layout::horizontal([Constraint::Percentage(share), Constraint::Fill(1)]).areas(low);
        let (inst, sh) = if beside {
            let (i, s) = lesson_and_shell(top, focus);
            (i, Some(s))
        } else {
            (top, None)
        };
        return Panes {
            inst: Some(inst),
            steps: Some(steps),
            cluster: Some(cluster),
            shell: sh,
        };
    }
    // Too small to share: the focused pane alone, Tab switches.
    let mut p = Panes::default();
    match focus {
        Pane::Instructions => p.inst = Some(main),
        Pane::Steps => p.steps = Some(main),
        Pane::Cluster => p.cluster = Some(main),
        Pane::Shell => p.shell = Some(main),
    }
    p
}

/// The shell pane: the shell's screen as tui-term draws it, the real
/// cursor where the shell's is while the pane has the focus.
fn draw_shell(frame: &mut Frame, app: &mut App, area: Rect) {
    let theme = app.theme;
    let s = app.strings();
    let focused = app.focus == Pane::Shell;
    let label = app.shell.label();
    let room = usize::from(area.width.saturating_sub(4));
    let title = truncate(&format!("{}· {label} ", s.shell_title), room);
    let mut block = Block::bordered()
        .border_style(theme.border(focused))
        .title(Line::styled(title, theme.title(focused)));
    let inner = block.inner(area);
    app.view.shell = inner;
    let Some(session) = &app.shell.session else {
        let text = match &app.shell.failed {
            Some(why) => fill(s.shell_failed, &[why]),
            None => s.shell_starting.to_owned(),
        };
        let body = vec![Span::styled(text, theme.dim())];
        let lines: Vec<Line<'static>> =
            super::markdown::wrap(&body, usize::from(inner.width).max(1))
                .into_iter()
                .map(Line::from)
                .collect();
        frame.render_widget(Paragraph::new(lines).block(block), area);
        return;
    };
    session.with_term(|t| t.snapshot(&mut app.shell.snapshot));
    let snap = &app.shell.snapshot;
    let bottom = if snap.scrollback > 0 {
        Line::styled(fill(s.shell_scrolled, &[&snap.scrollback]), theme.message())
    } else if focused {
        Line::styled(s.shell_leave, theme.key())
    } else {
        Line::styled(s.shell_enter, theme.dim())
    };
    block = block.title_bottom(bottom.right_aligned());
    frame.render_widget(block, area);
    let term = tui_term::widget::PseudoTerminal::new(snap)
        .cursor(tui_term::widget::Cursor::default().visibility(false));
    frame.render_widget(term, inner);
    let (row, col) = snap.cursor;
    if focused && !snap.hide_cursor && row < inner.height && col < inner.width {
        frame.set_cursor_position((inner.x + col, inner.y + row));
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme, s: &Strings) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let lines = vec![
        Line::styled(s.too_small, theme.message()),
        Line::raw(fill(
            s.too_small_need,
            &[&area.width, &area.height, &MIN_WIDTH, &MIN_HEIGHT],
        )),
    ];
    // Room for the lines to wrap once each.
    let h = 4.min(area.height);
    let y = area.y + (area.height - h) / 2;
    let r = Rect::new(area.x, y, area.width, h);
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        r,
    );
}

fn pane_block<'a>(theme: &Theme, title: Line<'a>, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_style(theme.border(focused))
        .title(title.style(theme.title(focused)))
        .padding(Padding::horizontal(1))
}

fn draw_instructions(frame: &mut Frame, app: &mut App, area: Rect) {
    let theme = app.theme;
    let focused = app.focus == Pane::Instructions;
    let n = app.lessons().len();
    let title = match app.current_lesson() {
        Some(l) => format!(" {}/{n} {} ", app.lesson + 1, l.meta.title),
        None => " No lesson ".to_owned(),
    };
    // A long title is cut with … (room for the corners).
    let room = usize::from(area.width.saturating_sub(2));
    let title = if title.width() > room {
        format!("{} ", truncate(title.trim_end(), room.saturating_sub(1)))
    } else {
        title
    };
    let block = pane_block(&theme, Line::raw(title), focused);
    let inner = block.inner(area);
    app.view.instructions = inner;
    let mut scroll = app.scroll;
    let (lesson, drawn) = (app.lesson, app.drawn.take());
    let page = app.page(inner.width);
    let total = page.doc.lines.len();
    let anchors = page.anchors();
    // A new width re-wraps the page: keep the same text in view (lines are
    // a width-dependent unit).
    if let Some((l, w, old)) = drawn
        && l == lesson
        && w != inner.width
    {
        let mapped = super::page::rescale(usize::from(scroll), &old, &anchors);
        scroll = u16::try_from(mapped).unwrap_or(u16::MAX);
    }
    let max = total.saturating_sub(usize::from(inner.height));
    let top = usize::from(scroll).min(max);
    let end = (top + usize::from(inner.height)).min(total);
    let lines: Vec<Line<'static>> = page.doc.lines[top..end].to_vec();
    let pos = if total <= usize::from(inner.height) {
        String::new()
    } else {
        format!(" {}%", end * 100 / total.max(1))
    };
    app.scroll = u16::try_from(top).unwrap_or(u16::MAX);
    app.drawn = Some((lesson, inner.width, anchors));
    let block = block.title_bottom(Line::styled(pos, theme.dim()).right_aligned());
    let text = if app.lessons().is_empty() {
        Text::raw(app.strings().no_lessons)
    } else {
        Text::from(lines)
    };
    frame.render_widget(Paragraph::new(text).block(block), area);
}

fn state_style(theme: &Theme, s: StepState) -> Style {
    marker(theme, s).1
}

fn draw_steps(frame: &mut Frame, app: &mut App, area: Rect) {
    let theme = app.theme;
    let focused = app.focus == Pane::Steps;
    let s = app.strings();
    let Some(lesson) = app.current_lesson() else {
        let title = fill(s.steps_title, &[&0, &0]);
        frame.render_widget(pane_block(&theme, Line::raw(title), focused), area);
        return;
    };
    let n = lesson.steps.len();
    let done = (0..n)
        .filter(|i| app.step_state(lesson, *i) == StepState::Done)
        .count();
    let block = pane_block(
        &theme,
        Line::raw(fill(s.steps_title, &[&done, &n])),
        focused,
    );
    let inner = block.inner(area);
    let width = usize::from(inner.width);
    // (line, step index) so that clicks can find their step.
    let mut rows: Vec<(Line<'static>, usize)> = Vec::new();
    let mut sel_rows = (0, 0);
    let active = app.active_step();
    for (i, step) in lesson.steps.iter().enumerate() {
        let state = app.step_state(lesson, i);
        let (m, mstyle) = marker(&theme, state);
        let mut title_style = state_style(&theme, state);
        if state == StepState::Pending {
            title_style = Style::new();
        }
        let first = rows.len();
        if i == app.step_sel && focused {
            title_style = title_style.patch(theme.selected());
        }
        let label = truncate(
            &format!("{}. {}", i + 1, step.title),
            width.saturating_sub(m.width() + 1),
        );
        rows.push((
            Line::from(vec![
                Span::styled(format!("{m} "), mstyle),
                Span::styled(label, title_style),
            ]),
            i,
        ));
        let indent = m.width() + 1;
        let avail = width.saturating_sub(indent).max(1);
        // The step being worked on, and a failing one, say everything: the
        // reason in full and the live hint on lines of its own. Other steps
        // keep to one line.
        let full = Some(i) == active || state == StepState::Failing;
        if let Some(reason) = app.step_reason(lesson, i) {
            let style = if state == StepState::Failing {
                theme.failing()
            } else {
                Style::new()
            };
            if full {
                let body = vec![Span::styled(reason.to_owned(), style)];
                for l in super::markdown::wrap(&body, avail) {
                    let mut line = vec![Span::raw(" ".repeat(indent))];
                    line.extend(l);
                    rows.push((Line::from(line), i));
                }
            } else {
                let r = truncate(reason.lines().next().unwrap_or(""), avail);
                rows.push((
                    Line::from(vec![
                        Span::raw(" ".repeat(indent)),
                        Span::styled(r, theme.dim()),
                    ]),
                    i,
                ));
            }
        }
        if full && let Some(hint) = app.step_hint(lesson, i) {
            let mut body = vec![Span::styled(
                format!("{} ", s.live_hint),
                theme.hint_label(),
            )];
            body.push(Span::styled(hint.to_owned(), theme.live_hint()));
            for l in super::markdown::wrap(&body, avail) {
                let mut line = vec![Span::raw(" ".repeat(indent))];
                line.extend(l);
                rows.push((Line::from(line), i));
            }
        }
        if i == app.step_sel {
            sel_rows = (first, rows.len());
        }
    }
    if n > 0 && done == n {
        let last = n - 1;
        rows.push((Line::raw(""), last));
        let text = truncate(s.lesson_done, width);
        rows.push((Line::styled(text, theme.done()), last));
    }
    // Keep the selected step in view: all of it if it fits, else its start.
    let h = usize::from(inner.height);
    let (sel_start, sel_end) = sel_rows;
    let top = if h == 0 {
        0
    } else {
        sel_end.saturating_sub(h).min(sel_start)
    };
    let visible: Vec<(Line<'static>, usize)> = rows.into_iter().skip(top).take(h).collect();
    app.view.steps = inner;
    app.view.step_rows = visible
        .iter()
        .enumerate()
        .map(|(k, (_, i))| (inner.y + u16::try_from(k).unwrap_or(u16::MAX), *i))
        .collect();
    let lines: Vec<Line<'static>> = visible.into_iter().map(|(l, _)| l).collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// The connection state in a word or two (the reason, when there is one,
/// comes from [`conn_reason`]).
fn conn_span(app: &App) -> Span<'static> {
    let t = &app.theme;
    let s = app.strings();
    match &app.connection.state {
        ConnState::NotConnected => Span::styled(s.not_connected, t.disconnected()),
        ConnState::Connecting => Span::styled(s.connecting, t.active()),
        ConnState::Connected => Span::styled(s.connected, t.connected()),
        ConnState::Reconnecting(_) => Span::styled(s.reconnecting, t.active()),
        ConnState::Error(_) => Span::styled(s.error, t.disconnected()),
    }
}

/// Why the connection is not up, when it says.
fn conn_reason(app: &App) -> Option<&str> {
    match &app.connection.state {
        ConnState::Reconnecting(r) | ConnState::Error(r) if !r.trim().is_empty() => Some(r),
        _ => None,
    }
}

fn draw_cluster(frame: &mut Frame, app: &mut App, area: Rect) {
    let theme = app.theme;
    let focused = app.focus == Pane::Cluster;
    let s = app.strings();
    let mut block = pane_block(&theme, Line::raw(s.cluster_title), focused);
    if let Some((_, at)) = &app.cluster
        && !app.live
    {
        let secs = app.now.saturating_duration_since(*at).as_secs();
        block = block
            .title_bottom(Line::styled(fill(s.updated_ago, &[&secs]), theme.dim()).right_aligned());
    }
    // The learner's kubectl runs in another terminal: say how to point it
    // at the same cluster (the sandbox's kubeconfig is not the default one).
    if app.live
        && let Some(path) = &app.connection.kubeconfig
    {
        let shown = crate::paths::display_path(path);
        // Cut visibly (…) rather than silently when the border is short.
        let line = truncate(
            &format!(" export KUBECONFIG={shown} "),
            usize::from(area.width.saturating_sub(4)),
        );
        block = block.title_bottom(Line::styled(line, theme.dim()).left_aligned());
    }
    let inner = block.inner(area);
    app.view.cluster = inner;
    let mut lines = vec![Line::from(vec![
        Span::styled(
            if app.connection.context.is_empty() {
                String::new()
            } else {
                format!("{} ", app.connection.context)
            },
            theme.strong(),
        ),
        conn_span(app),
    ])];
    // Why it is not connected, in full (at most three lines).
    if let Some(r) = conn_reason(app) {
        let body = vec![Span::styled(r.to_owned(), theme.failing())];
        let w = usize::from(inner.width).max(1);
        let mut wrapped = super::markdown::wrap(&body, w);
        if wrapped.len() > 3 {
            wrapped.truncate(3);
            if let Some(last) = wrapped.last_mut() {
                let text: String = last.iter().map(|s| s.content.as_ref()).collect();
                *last = vec![Span::styled(
                    truncate(&format!("{text} …"), w),
                    theme.failing(),
                )];
            }
        }
        lines.extend(wrapped.into_iter().map(Line::from));
    }
    match &app.cluster {
        _ if app.live => {
            let wall = app.wall.unwrap_or_else(jiff::Timestamp::now);
            let used = u16::try_from(lines.len()).unwrap_or(u16::MAX);
            let h = inner.height.saturating_sub(used);
            let live = super::pane::live_lines(app, inner.width, h, focused, wall);
            app.view.lineage_max = live.lineage_max;
            lines.extend(live.lines);
            frame.render_widget(Paragraph::new(lines).block(block), area);
            return;
        }
        Some((view, _)) => {
            lines.extend(
                view.lines
                    .iter()
                    .skip(usize::from(app.cluster_scroll))
                    .map(|l| Line::raw(l.clone())),
            );
        }
        None => {
            lines.push(Line::raw(""));
            let msg = match app.connection.state {
                ConnState::Connected => s.waiting_watch,
                _ => s.cluster_placeholder,
            };
            lines.push(Line::styled(msg, theme.dim()));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_status(frame: &mut Frame, app: &mut App, area: Rect) {
    let t = app.theme;
    let line = status_line(app, usize::from(area.width));
    frame.render_widget(Paragraph::new(line).style(t.status()), area);
}

/// The status bar at `w` columns. The context, connection state, namespace,
/// lesson and step stay; what gives way when room is short is, in order,
/// the connection's reason (cut with …), the key hints, then the details
/// from the left (context, namespace, lesson). A message takes the place
/// of the key hints.
fn status_line(app: &App, w: usize) -> Line<'static> {
    let t = app.theme;
    let s = app.strings();
    let (li, ln) = (app.lesson + 1, app.lessons().len());
    let (si, sn) = match app.current_lesson() {
        Some(l) => (
            app.active_step().map_or(l.steps.len(), |i| i + 1),
            l.steps.len(),
        ),
        None => (0, 0),
    };
    let width_of = |v: &[Span<'static>]| -> usize { v.iter().map(|s| s.content.width()).sum() };
    // (what, dropped in this order when room is short: higher first)
    let mut parts: Vec<(u8, Vec<Span<'static>>)> = Vec::new();
    if !app.connection.context.is_empty() {
        parts.push((4, vec![Span::raw(app.connection.context.clone())]));
    }
    parts.push((0, vec![conn_span(app)]));
    parts.push((
        3,
        vec![Span::raw(fill(s.status_ns, &[&app.connection.namespace]))],
    ));
    parts.push((2, vec![Span::raw(fill(s.status_lesson, &[&li, &ln]))]));
    parts.push((1, vec![Span::raw(fill(s.status_step, &[&si, &sn]))]));
    let join = |parts: &[(u8, Vec<Span<'static>>)], reason: Option<String>| {
        let mut v = vec![Span::raw(" ")];
        for (k, (prio, p)) in parts.iter().enumerate() {
            if k > 0 {
                v.push(Span::raw(" │ "));
            }
            v.extend(p.iter().cloned());
            if *prio == 0
                && let Some(r) = &reason
            {
                v.push(Span::styled(format!(" ({r})"), t.active()));
            }
        }
        v
    };
    let mut keys = vec![
        ("?", s.key_help),
        ("h", s.key_hint),
        ("l", s.key_lessons),
        ("q", s.key_quit),
    ];
    if app.shell.enabled() {
        keys.insert(1, ("t", s.key_shell));
    }
    if app.active_is_quiz() {
        keys.insert(0, ("a", s.key_answer));
    }
    if app.view.single_pane && app.focus != Pane::Shell {
        keys.insert(0, ("Tab", s.key_pane));
    }
    // In the shell every key is the shell's: only the way back is shown.
    if app.focus == Pane::Shell {
        keys = vec![("Ctrl-]", s.key_leave_shell)];
    }
    let key_spans = |n: usize| -> Vec<Span<'static>> {
        keys[..n]
            .iter()
            .flat_map(|(k, d)| [Span::styled(*k, t.key()), Span::raw(format!(" {d}  "))])
            .collect()
    };
    // A failed progress write stays visible until a later one succeeds.
    let message = app.message.clone().or_else(|| app.save_error());
    // Drop left details until the essentials and the right side's minimum
    // (the message, or `? help`) fit.
    let min_right = match &message {
        Some(m) => (m.width() + 2).min(w / 2),
        None => width_of(&key_spans(1)),
    };
    while width_of(&join(&parts, None)) + min_right > w && parts.len() > 1 {
        let Some(drop) = parts
            .iter()
            .enumerate()
            .max_by_key(|(_, (p, _))| *p)
            .map(|(k, _)| k)
        else {
            break;
        };
        parts.remove(drop);
    }
    let mut left = join(&parts, None);
    let mut lw = width_of(&left);
    // The reason comes before the extra key hints, cut to what is left
    // (not at all below a few words).
    if let Some(reason) = conn_reason(app) {
        let room = w.saturating_sub(lw + min_right + 4);
        if room >= 12 {
            left = join(&parts, Some(truncate(reason, room)));
            lw = width_of(&left);
        }
    }
    let right: Vec<Span<'static>> = match &message {
        Some(m) => {
            let room = w.saturating_sub(lw).saturating_sub(2);
            vec![Span::styled(
                format!(" {} ", truncate(m, room)),
                t.message(),
            )]
        }
        None => {
            // As many key hints as fit, `? help` first.
            let mut r = Vec::new();
            for n in (1..=keys.len()).rev() {
                let k = key_spans(n);
                if lw + width_of(&k) <= w {
                    r = k;
                    break;
                }
            }
            r
        }
    };
    let rw = width_of(&right);
    let mut spans = left;
    if lw + rw <= w {
        spans.push(Span::raw(" ".repeat(w - lw - rw)));
        spans.extend(right);
    }
    Line::from(spans)
}

/// A centered rectangle of at most `w` x `h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let s = app.strings();
    let kw = s.keys.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let mut lines: Vec<Line<'static>> = s
        .keys
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<kw$}  "), t.key()),
                Span::raw((*d).to_owned()),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(s.help_footer));
    if let Some(lab) = &app.lab {
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", s.help_lab), t.strong()),
            Span::raw(format!("cd {lab}")),
        ]));
    }
    let w = lines.iter().map(Line::width).max().unwrap_or(0) + 3;
    let h = lines.len() + 2;
    let r = centered(
        area,
        u16::try_from(w).unwrap_or(u16::MAX),
        u16::try_from(h).unwrap_or(u16::MAX),
    );
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(t.border(true))
        .title(Line::styled(s.help_title, t.title(true)))
        .title_bottom(Line::styled(s.esc_closes, t.dim()).right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}

fn draw_lessons(frame: &mut Frame, app: &mut App, area: Rect, selected: usize) {
    let t = app.theme;
    let s = app.strings();
    let lessons = app.lessons();
    let count = lessons.len();
    let p = app.progress();
    let mut lines = Vec::new();
    for (i, l) in lessons.iter().enumerate() {
        let n = l.steps.len();
        let done = l
            .steps
            .iter()
            .filter(|st| p.is_done(l.id(), &st.id))
            .count();
        let m = t.markers();
        let (mark, ms) = if n > 0 && done == n {
            (m[2], t.done())
        } else if i == app.lesson {
            (m[1], t.active())
        } else {
            (m[0], t.pending())
        };
        let mut title = Style::new();
        if i == selected {
            title = t.selected();
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} "), ms),
            Span::styled(format!("{}. {} ", i + 1, l.meta.title), title),
            Span::styled(
                format!(" {done}/{n} · {}", fill(s.minutes, &[&l.meta.minutes])),
                t.dim(),
            ),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::raw(format!(" {}", s.no_lessons)));
    }
    let w = lines.iter().map(Line::width).max().unwrap_or(0) + 3;
    let h = lines.len() + 2;
    let r = centered(
        area,
        u16::try_from(w.max(30)).unwrap_or(u16::MAX),
        u16::try_from(h).unwrap_or(u16::MAX),
    );
    // Keep the selection visible in a short box.
    let inner_h = usize::from(r.height.saturating_sub(2)).max(1);
    let top = (selected + 1).saturating_sub(inner_h);
    let lines: Vec<Line<'static>> = lines.into_iter().skip(top).collect();
    let rows: Vec<(u16, usize)> = (top..count)
        .take(inner_h)
        .enumerate()
        .map(|(k, i)| (r.y + 1 + u16::try_from(k).unwrap_or(u16::MAX), i))
        .collect();
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(t.border(true))
        .title(Line::styled(s.lessons_title, t.title(true)))
        .title_bottom(Line::styled(s.lessons_footer, t.dim()).right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block), r);
    app.view.lesson_rows = rows;
}

fn draw_quiz(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    step: usize,
    picked: &[bool],
    cursor: usize,
    wrong: bool,
) {
    let t = app.theme;
    let s = app.strings();
    let Some(q) = app
        .current_lesson()
        .and_then(|l| l.steps.get(step))
        .and_then(super::page::quiz)
    else {
        return;
    };
    let w = area.width.saturating_sub(4).min(76);
    let inner = usize::from(w.saturating_sub(4)).max(1);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let question = vec![Span::styled(q.question.clone(), t.strong())];
    lines.extend(
        super::markdown::wrap(&question, inner)
            .into_iter()
            .map(Line::from),
    );
    if q.answers.len() > 1 {
        lines.push(Line::styled(s.quiz_pick_all, t.dim()));
    }
    lines.push(Line::raw(""));
    let single = q.answers.len() == 1;
    for (i, choice) in q.choices.iter().enumerate() {
        let on = picked.get(i).copied().unwrap_or(false);
        let mark = match (single, on, t.ascii) {
            (true, true, false) => "◉",
            (true, false, false) => "○",
            (true, true, true) => "(*)",
            (true, false, true) => "( )",
            (false, true, _) => "[x]",
            (false, false, _) => "[ ]",
        };
        let head = format!("{mark} {}) ", super::page::letter(i));
        let indent = head.width();
        let style = if i == cursor {
            t.selected()
        } else {
            Style::new()
        };
        let body = vec![Span::styled(choice.clone(), style)];
        for (k, mut l) in super::markdown::wrap(&body, inner.saturating_sub(indent).max(1))
            .into_iter()
            .enumerate()
        {
            let mut line = if k == 0 {
                vec![Span::styled(head.clone(), t.list_marker())]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            line.append(&mut l);
            lines.push(Line::from(line));
        }
    }
    if wrong {
        lines.push(Line::raw(""));
        lines.push(Line::styled(s.quiz_wrong, t.failing()));
    }
    let title = Line::styled(s.quiz_title, t.title(true));
    let footer = Line::styled(s.quiz_footer, t.dim());
    draw_dialog(frame, &t, area, w, lines, title, footer);
}

/// A bordered box of `lines`, `w` wide, centred in `area`, over what is
/// under it.
fn draw_dialog(
    frame: &mut Frame,
    t: &Theme,
    area: Rect,
    w: u16,
    lines: Vec<Line<'static>>,
    title: Line<'static>,
    footer: Line<'static>,
) {
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(t.border(true))
        .padding(Padding::horizontal(1))
        .title(title)
        .title_bottom(footer.right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block), r);
}

fn draw_notice(frame: &mut Frame, app: &App, area: Rect, text: &str) {
    let t = app.theme;
    let s = app.strings();
    let w = area.width.saturating_sub(4).min(72);
    let inner = usize::from(w.saturating_sub(4)).max(1);
    let mut lines: Vec<Line<'static>> = Vec::new();
    for para in text.split('\n') {
        let body = vec![Span::raw(para.to_owned())];
        lines.extend(
            super::markdown::wrap(&body, inner)
                .into_iter()
                .map(Line::from),
        );
    }
    let title = Line::styled(s.notice_title, t.title(true));
    let footer = Line::styled(s.notice_footer, t.strong());
    draw_dialog(frame, &t, area, w, lines, title, footer);
}

fn draw_confirm(frame: &mut Frame, app: &App, area: Rect, step: usize) {
    let t = app.theme;
    let s = app.strings();
    let (before, after) = s
        .confirm_question
        .split_once("{0}")
        .unwrap_or((s.confirm_question, ""));
    let title = app
        .current_lesson()
        .and_then(|l| l.steps.get(step))
        .map_or(String::new(), |st| st.title.clone());
    let text = vec![
        Line::raw(""),
        Line::from(vec![
            Span::raw(before),
            Span::styled(title, t.strong()),
            Span::raw(after),
        ]),
        Line::raw(s.confirm_advice),
        Line::raw(""),
        Line::from(vec![
            Span::raw(" "),
            Span::styled("y", t.key()),
            Span::raw(s.confirm_yes),
            Span::styled("n", t.key()),
            Span::raw(s.confirm_no),
        ]),
    ];
    let w = text.iter().map(Line::width).max().unwrap_or(0) + 3;
    let r = centered(area, u16::try_from(w).unwrap_or(u16::MAX), 7);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(t.border(true))
        .title(Line::styled(format!(" {} ", s.solution), t.title(true)));
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        r,
    );
}
