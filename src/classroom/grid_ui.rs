//! Drawing the instructor's grid: a header (how learners join, counts,
//! the lesson shown, the hold), one row per learner (name, connected,
//! lesson, step, time on it, one column per step of the lesson shown, hints
//! and solutions, last activity, what the checker says), the class summary
//! per step, the keys; and the dialogs (a learner's detail, a message,
//! help, quitting).

use super::grid::{Grid, Overlay, Source, Words};
use super::roster::{Learner, Order, Roster};
use super::status::short_duration;
use crate::progress::StepState;
use crate::term::theme::Theme;
use crate::text::fill;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// Text cut to `width` columns, with … when cut.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return format!("{text}{}", " ".repeat(width - text.width()));
    }
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + 2 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    let pad = width.saturating_sub(out.width());
    out + &" ".repeat(pad)
}

/// A step's one-column marker: the theme's, or one ASCII character.
fn marker(theme: &Theme, s: StepState) -> (&'static str, Style) {
    let m = if theme.ascii {
        [".", ">", "x", "!"]
    } else {
        theme.markers()
    };
    match s {
        StepState::Pending => (m[0], theme.pending()),
        StepState::Active => (m[1], theme.active()),
        StepState::Done => (m[2], theme.done()),
        StepState::Failing => (m[3], theme.failing()),
    }
}

pub fn draw(
    frame: &mut Frame,
    grid: &mut Grid,
    roster: &Roster,
    theme: &Theme,
    now: jiff::Timestamp,
) {
    let area = frame.area();
    let w = grid.words();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(Paragraph::new(w.too_small).wrap(Wrap { trim: true }), area);
        return;
    }
    let [head, table, summary, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, grid, roster, theme, head);
    draw_table(frame, grid, roster, theme, now, table);
    draw_summary(frame, grid, roster, theme, summary);
    let status = grid.note.clone().unwrap_or_else(|| w.keys.to_owned());
    let style = if grid.note.is_some() {
        theme.message()
    } else {
        theme.status()
    };
    frame.render_widget(
        Paragraph::new(fit(&status, usize::from(keys.width))).style(style),
        keys,
    );
    match grid.overlay.clone() {
        Some(Overlay::Help) => draw_help(frame, w, theme, area),
        Some(Overlay::Learner { name }) => {
            if let Some(l) = roster.learners.get(&name) {
                draw_learner(frame, grid, l, theme, now, area);
            }
        }
        Some(Overlay::Compose { text }) => draw_compose(frame, w, theme, &text, area),
        Some(Overlay::ConfirmQuit) => {
            draw_box(frame, theme, area, "", &[w.quit_question.to_owned()]);
        }
        None => {}
    }
}

fn draw_header(frame: &mut Frame, grid: &Grid, roster: &Roster, theme: &Theme, area: Rect) {
    let w = grid.words();
    let first = match &grid.source {
        Source::Server { join } => fill(w.join, &[join]),
        Source::Cluster { context, classroom } => fill(w.following, &[context, classroom]),
    };
    let counts = fill(
        w.counts,
        &[&roster.learners.len(), &roster.connected_count()],
    );
    let lessons = grid.lessons();
    let lesson = lessons
        .get(grid.lesson)
        .map(|l| {
            fill(
                w.lesson,
                &[&(grid.lesson + 1), &lessons.len(), &l.meta.title],
            )
        })
        .unwrap_or_default();
    let mut second = vec![Span::styled(lesson, theme.heading(2))];
    if let Some(h) = &roster.hold {
        let (n, title) = lessons
            .iter()
            .position(|l| l.id() == h)
            .map_or((0, h.clone()), |i| (i + 1, lessons[i].meta.title.clone()));
        second.push(Span::raw("   "));
        second.push(Span::styled(
            format!("[{}]", fill(w.held, &[&n, &title])),
            theme.message(),
        ));
    }
    second.push(Span::styled(
        format!(
            "   {}",
            match grid.order {
                Order::StuckLongest => w.sort_stuck,
                Order::Name => w.sort_name,
            }
        ),
        theme.dim(),
    ));
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("{} — ", w.title), theme.strong()),
            Span::raw(first),
            Span::styled(format!(" — {counts}"), theme.dim()),
        ]),
        Line::from(second),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

/// Column widths: name, connected, lesson, step, on it, steps, hints,
/// last activity; the reason takes what is left.
struct Cols {
    name: usize,
    lesson: usize,
    step: usize,
    on: usize,
    steps: usize,
    hints: usize,
    last: usize,
    reason: usize,
}

fn cols(width: usize, steps: usize) -> Cols {
    let mut c = Cols {
        name: 14,
        lesson: 6,
        step: 16,
        on: 7,
        steps: (steps * 2).max(4),
        hints: 6,
        last: 7,
        reason: 0,
    };
    let fixed = |c: &Cols| c.name + 2 + c.lesson + c.step + c.on + c.steps + c.hints + c.last + 8;
    if fixed(&c) + 20 > width {
        c.step = 10;
        c.name = 10;
    }
    c.reason = width.saturating_sub(fixed(&c));
    c
}

fn draw_table(
    frame: &mut Frame,
    grid: &mut Grid,
    roster: &Roster,
    theme: &Theme,
    now: jiff::Timestamp,
    area: Rect,
) {
    let w = grid.words();
    let course = grid.course.clone();
    let lessons = course.lessons(grid.lang);
    let Some(shown) = lessons.get(grid.lesson) else {
        return;
    };
    let step_ids: Vec<&str> = shown.steps.iter().map(|s| s.id.as_str()).collect();
    let c = cols(usize::from(area.width), step_ids.len());
    let head_steps: String = (1..=step_ids.len())
        .map(|i| format!("{:<2}", i % 10))
        .collect();
    let header = Line::from(Span::styled(
        format!(
            "{} {} {} {} {} {} {} {} {}",
            fit(w.col_name, c.name),
            " ",
            fit(w.col_lesson, c.lesson),
            fit(w.col_step, c.step),
            fit(w.col_on, c.on),
            fit(&head_steps, c.steps),
            fit(w.col_hints, c.hints),
            fit(w.col_last, c.last),
            fit(w.col_reason, c.reason),
        ),
        theme.table_head(),
    ));
    let rows = roster.sorted(grid.order, now);
    grid.page = usize::from(area.height.saturating_sub(1)).max(1);
    if grid.selected >= rows.len() {
        grid.selected = rows.len().saturating_sub(1);
    }
    grid.scroll = grid.scroll.min(grid.selected);
    if grid.selected >= grid.scroll + grid.page {
        grid.scroll = grid.selected + 1 - grid.page;
    }
    let mut lines = vec![header];
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(w.nobody, theme.dim())));
    }
    for (i, l) in rows.iter().enumerate().skip(grid.scroll).take(grid.page) {
        let mut line = row(grid, l, &step_ids, &c, theme, now);
        if i == grid.selected {
            line = line.patch_style(theme.selected());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn row<'a>(
    grid: &Grid,
    l: &Learner,
    steps: &[&str],
    c: &Cols,
    theme: &Theme,
    now: jiff::Timestamp,
) -> Line<'a> {
    let w = grid.words();
    let lessons = grid.lessons();
    let (conn, conn_style) = if l.connected {
        (if theme.ascii { "+" } else { "●" }, theme.connected())
    } else {
        (if theme.ascii { "-" } else { "○" }, theme.disconnected())
    };
    let pos = l.position();
    let lesson = pos
        .and_then(|(id, _)| lessons.iter().position(|x| x.id() == id))
        .map_or("—".to_owned(), |i| format!("{}/{}", i + 1, lessons.len()));
    let step = match pos {
        None => "—".to_owned(),
        Some((_, None)) => w.lesson_done.to_owned(),
        Some((lid, Some(sid))) => lessons
            .iter()
            .find(|x| x.id() == lid)
            .and_then(|x| {
                x.step_index(sid)
                    .map(|i| format!("{}. {}", i + 1, x.steps[i].title))
            })
            .unwrap_or_else(|| sid.to_owned()),
    };
    let on = l
        .on_step(now)
        .map_or("—".to_owned(), |d| short_duration(d.as_secs()));
    let (hints, sols) = l.report.as_ref().map_or((0, 0), |r| r.revealed());
    let last = l.last_activity.map_or("—".to_owned(), |t| {
        short_duration(now.duration_since(t).as_secs())
    });
    let mut spans = vec![
        Span::raw(format!("{} ", fit(&l.name, c.name))),
        Span::styled(conn.to_owned(), conn_style),
        Span::raw(format!(
            " {} {} {} ",
            fit(&lesson, c.lesson),
            fit(&step, c.step),
            fit(&on, c.on)
        )),
    ];
    let mut used = 0;
    for s in l.states(
        grid.lessons().get(grid.lesson).map_or("", |x| x.id()),
        steps,
    ) {
        let (m, style) = marker(theme, s);
        let cell = fit(m, 2);
        used += 2;
        spans.push(Span::styled(cell, style));
    }
    spans.push(Span::raw(" ".repeat(c.steps.saturating_sub(used) + 1)));
    spans.push(Span::raw(format!(
        "{} {} ",
        fit(&format!("{hints}/{sols}"), c.hints),
        fit(&last, c.last)
    )));
    let reason = l.reason().unwrap_or("");
    spans.push(Span::styled(fit(reason, c.reason), theme.dim()));
    Line::from(spans)
}

fn draw_summary(frame: &mut Frame, grid: &Grid, roster: &Roster, theme: &Theme, area: Rect) {
    let w = grid.words();
    let Some(shown) = grid.lessons().get(grid.lesson) else {
        return;
    };
    let steps: Vec<&str> = shown.steps.iter().map(|s| s.id.as_str()).collect();
    let counts = roster.done_counts(shown.id(), &steps);
    let total = roster.learners.len();
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{}: {n}/{total}", i + 1))
        .collect();
    let text = format!("{} {}", w.summary, parts.join("  "));
    frame.render_widget(
        Paragraph::new(fit(&text, usize::from(area.width))).style(theme.strong()),
        area,
    );
}

/// A centred box of `lines`.
fn draw_box(frame: &mut Frame, theme: &Theme, area: Rect, title: &str, lines: &[String]) -> Rect {
    let width = lines
        .iter()
        .map(|l| l.width())
        .chain(std::iter::once(title.width()))
        .max()
        .unwrap_or(20)
        .clamp(30, usize::from(area.width.saturating_sub(4)));
    let width = u16::try_from(width + 4)
        .unwrap_or(area.width)
        .min(area.width);
    let inner_w = usize::from(width.saturating_sub(4)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let height = u16::try_from(rows + 2)
        .unwrap_or(area.height)
        .min(area.height);
    let r = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .title(title.to_owned())
        .border_style(theme.border(true))
        .padding(ratatui::widgets::Padding::horizontal(1));
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        r,
    );
    r
}

fn draw_help(frame: &mut Frame, w: &Words, theme: &Theme, area: Rect) {
    let lines: Vec<String> = w.help.iter().map(|s| (*s).to_owned()).collect();
    draw_box(frame, theme, area, w.help_title, &lines);
}

fn draw_compose(frame: &mut Frame, w: &Words, theme: &Theme, text: &str, area: Rect) {
    let lines = vec![format!("{text}▏"), String::new(), w.compose_help.to_owned()];
    draw_box(frame, theme, area, w.compose_title, &lines);
}

fn draw_learner(
    frame: &mut Frame,
    grid: &Grid,
    l: &Learner,
    theme: &Theme,
    now: jiff::Timestamp,
    area: Rect,
) {
    let w = grid.words();
    let lessons = grid.lessons();
    let mut lines = vec![
        if l.connected {
            w.connected
        } else {
            w.disconnected
        }
        .to_owned(),
    ];
    match l.report.as_ref() {
        None => lines.push(w.no_report.to_owned()),
        Some(r) => {
            let lesson = r.current_lesson();
            let ours = r
                .lesson
                .as_deref()
                .and_then(|id| lessons.iter().position(|x| x.id() == id));
            if let Some(i) = ours {
                lines.push(fill(
                    w.lesson,
                    &[&(i + 1), &lessons.len(), &lessons[i].meta.title],
                ));
            }
            let (h, s) = r.revealed();
            let mut facts = vec![fill(w.revealed, &[&h, &s])];
            if let Some(d) = l.on_step(now) {
                facts.push(format!("{} {}", w.col_on, short_duration(d.as_secs())));
            }
            if !r.cluster.is_empty() {
                facts.push(format!("cluster: {}", r.cluster));
            }
            lines.push(facts.join(" — "));
            lines.push(String::new());
            for s in lesson.map(|x| x.steps.as_slice()).unwrap_or_default() {
                let (m, _) = marker(theme, s.state);
                let title = ours
                    .and_then(|i| lessons[i].step(&s.id))
                    .map_or(s.id.clone(), |st| st.title.clone());
                lines.push(format!("{m} {title}"));
                if let Some(reason) = &s.reason {
                    lines.push(format!("    {reason}"));
                }
                if let Some(hint) = &s.hint {
                    lines.push(format!("    {} {hint}", w.hint));
                }
            }
            if r.step.is_none() {
                lines.push(w.lesson_done.to_owned());
            }
        }
    }
    draw_box(
        frame,
        theme,
        area,
        &fill(w.learner_title, &[&l.name]),
        &lines,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_fit_their_width() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("éé", 3).width(), 3);
        let c = cols(120, 5);
        assert!(c.reason > 20);
        let narrow = cols(60, 5);
        assert_eq!(narrow.name, 10);
    }
}
