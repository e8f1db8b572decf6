//! The live cluster pane: pods, PVCs and PVs of the course namespace as
//! kubectl prints them, the objects of the current step highlighted, deleted
//! objects dimmed for a few seconds, and (when the pane is focused) the
//! storage lineage of the selected pod. Columns are dropped from the right
//! when the pane is narrow, so the table never wraps.

use super::app::App;
use super::strings::fill;
use super::theme::Theme;
use crate::cluster::lineage::{Link, LinkKind, PodLineage, pod_lineage};
use crate::cluster::view::{PaneRequest, Row, pane_model};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

/// Longest a cell may be before it is cut (names of generated pods fit).
const MAX_CELL: usize = 40;

/// How to draw one table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Plain,
    Highlighted,
    Ghost,
    Unhealthy,
}

struct Table {
    head: Vec<&'static str>,
    rows: Vec<(Vec<String>, Mark, bool)>,
}

impl Table {
    fn new(head: Vec<&'static str>) -> Table {
        Table {
            head,
            rows: Vec::new(),
        }
    }

    fn push<T>(&mut self, r: &Row<T>, cells: Vec<String>, unhealthy: bool, selected: bool) {
        let mark = if r.fade.is_some() {
            Mark::Ghost
        } else if r.highlighted {
            Mark::Highlighted
        } else if unhealthy {
            Mark::Unhealthy
        } else {
            Mark::Plain
        };
        self.rows.push((cells, mark, selected));
    }

    /// The header and rows, with as many columns (left to right) as fit in
    /// `width`; the first column is always there, cut if it must be.
    fn lines(&self, theme: &Theme, width: usize) -> Vec<Line<'static>> {
        let n = self.head.len();
        let mut widths: Vec<usize> = self.head.iter().map(|h| h.width()).collect();
        for (cells, _, _) in &self.rows {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.width().min(MAX_CELL));
            }
        }
        // Gutter of 2 (marker + space), then columns separated by 2 spaces.
        let avail = width.saturating_sub(2);
        let mut cols = 1;
        let mut used = widths.first().copied().unwrap_or(0);
        while cols < n && used + 2 + widths[cols] <= avail {
            used += 2 + widths[cols];
            cols += 1;
        }
        let rest: usize = widths.iter().take(cols).skip(1).map(|w| w + 2).sum();
        if let Some(w) = widths.first_mut() {
            *w = (*w).min(avail.saturating_sub(rest)).max(1);
        }
        let fmt = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, w) in widths.iter().take(cols).enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let cell = cut(cell, *w);
                let pad = w.saturating_sub(cell.width());
                s.push_str(&cell);
                if i + 1 < cols {
                    s.push_str(&" ".repeat(pad + 2));
                }
            }
            s
        };
        let head: Vec<String> = self.head.iter().map(|h| (*h).to_owned()).collect();
        let mut out = vec![Line::styled(format!("  {}", fmt(&head)), theme.dim())];
        for (cells, mark, selected) in &self.rows {
            let (gutter, mut style) = match mark {
                Mark::Plain => (" ", Style::new()),
                Mark::Highlighted => ("*", theme.active()),
                Mark::Ghost => ("-", theme.dim().add_modifier(Modifier::CROSSED_OUT)),
                Mark::Unhealthy => ("!", theme.failing()),
            };
            let gutter = if *selected { ">" } else { gutter };
            if *selected {
                style = style.patch(theme.selected());
            }
            out.push(Line::from(vec![
                Span::styled(
                    format!("{gutter} "),
                    style.remove_modifier(Modifier::REVERSED),
                ),
                Span::styled(fmt(cells), style),
            ]));
        }
        out
    }
}

/// `s` cut to `w` columns, with `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    if w > 0 {
        out.push('…');
    }
    out
}

/// The pane's lines below its first (connection) line, for an inner area
/// of `width` x `height`. `wall` is the time ages are computed from.
pub fn live_lines(
    app: &App,
    width: u16,
    height: u16,
    focused: bool,
    wall: jiff::Timestamp,
) -> Vec<Line<'static>> {
    let theme = app.theme;
    let s = app.strings();
    let width = usize::from(width);
    let budget = usize::from(height);
    let state = &app.state;
    // PVCs and PVs first: they are few, and their lines decide how many
    // pod rows fit.
    let probe = pane_model(
        state,
        &app.highlights,
        PaneRequest {
            pod_offset: 0,
            pod_rows: 0,
            selected_pod: None,
            now: app.now,
            wall,
        },
    );
    let section = |rows: usize| if rows == 0 { 1 } else { rows + 1 };
    let others = section(probe.pvcs.len()) + section(probe.pvs.len());
    let lineage_room = if focused { budget / 2 } else { 0 };
    let pod_room = budget
        .saturating_sub(others + lineage_room)
        .max(budget.saturating_sub(lineage_room) / 2)
        .saturating_sub(1)
        .max(1);
    let offset = (app.pod_sel + 1).saturating_sub(pod_room);
    let model = pane_model(
        state,
        &app.highlights,
        PaneRequest {
            pod_offset: offset,
            pod_rows: pod_room,
            selected_pod: None,
            now: app.now,
            wall,
        },
    );
    let mut lines: Vec<Line<'static>> = Vec::new();

    // Pods.
    let selected_name = model
        .pods
        .get(app.pod_sel.saturating_sub(offset))
        .filter(|r| r.fade.is_none())
        .map(|r| r.row.name.clone());
    if model.pods.is_empty() {
        lines.push(Line::styled(
            format!("{}: {}", s.pane_pods, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(vec!["POD", "READY", "STATUS", "RESTARTS", "AGE", "VOLUMES"]);
        for (i, r) in model.pods.iter().enumerate() {
            let p = &r.row;
            let status = if p.terminating && p.status != "Terminating" {
                format!("{} (Terminating)", p.status)
            } else {
                p.status.clone()
            };
            let sel = focused && r.fade.is_none() && offset + i == app.pod_sel;
            t.push(
                r,
                vec![
                    p.name.clone(),
                    p.ready.clone(),
                    status,
                    p.restarts.clone(),
                    p.age.clone(),
                    p.volumes.join(","),
                ],
                p.unhealthy,
                sel,
            );
        }
        lines.extend(t.lines(&theme, width));
        if model.pod_total > offset + pod_room {
            lines.push(Line::styled(
                format!("  … {}/{}", offset + pod_room, model.pod_total),
                theme.dim(),
            ));
        }
    }

    // The storage lineage of the selected pod, when the pane has focus.
    let lineage = if focused {
        selected_name
            .as_deref()
            .and_then(|n| state.pod(&state.namespace, n))
            .map(|p| pod_lineage(p, state))
    } else {
        None
    };

    // PVCs.
    if model.pvcs.is_empty() {
        lines.push(Line::styled(
            format!("{}: {}", s.pane_pvcs, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(vec![
            "PVC", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "CLASS", "AGE",
        ]);
        for r in &model.pvcs {
            let p = &r.row;
            t.push(
                r,
                vec![
                    p.name.clone(),
                    p.status.clone(),
                    p.volume.clone(),
                    p.capacity.clone(),
                    p.access_modes.clone(),
                    p.storage_class.clone(),
                    p.age.clone(),
                ],
                p.status == "Lost",
                false,
            );
        }
        lines.extend(t.lines(&theme, width));
    }

    // PVs.
    if model.pvs.is_empty() {
        lines.push(Line::styled(
            format!("{}: {}", s.pane_pvs, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(vec![
            "PV", "STATUS", "CLAIM", "RECLAIM", "CAPACITY", "CLASS", "REASON", "AGE",
        ]);
        for r in &model.pvs {
            let p = &r.row;
            t.push(
                r,
                vec![
                    p.name.clone(),
                    p.status.clone(),
                    p.claim.clone(),
                    p.reclaim_policy.clone(),
                    p.capacity.clone(),
                    p.storage_class.clone(),
                    p.reason.clone(),
                    p.age.clone(),
                ],
                p.status == "Failed",
                false,
            );
        }
        lines.extend(t.lines(&theme, width));
    }

    if focused {
        match &lineage {
            Some(l) => {
                let lin = lineage_lines(l, &theme, s.pane_lineage, s.pane_layer, width);
                // Tables and lineage share the pane: the tables keep at
                // least half of it, the lineage is cut at the bottom.
                let keep = budget.saturating_sub(lin.len()).max(budget / 2);
                lines.truncate(keep.min(lines.len()));
                lines.extend(lin);
            }
            None if model.pod_total > 0 => {
                lines.push(Line::styled(s.pane_select_hint, theme.dim()));
            }
            None => {}
        }
    }
    lines
}

fn link_label(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Volume => "volume",
        LinkKind::Claim => "PVC",
        LinkKind::PersistentVolume => "PV",
        LinkKind::StorageClass => "class",
        LinkKind::Storage => "bytes",
    }
}

fn link_spans(link: &Link, theme: &Theme) -> Vec<Span<'static>> {
    let name_style = if link.missing {
        theme.failing()
    } else {
        theme.strong()
    };
    let mut v = vec![
        Span::styled(format!("{} ", link_label(link.kind)), theme.dim()),
        Span::styled(link.name.clone(), name_style),
    ];
    if !link.detail.is_empty() {
        v.push(Span::raw(format!(" ({})", link.detail)));
    }
    if let Some(l) = &link.lifetime {
        v.push(Span::styled(format!(" · {l}"), theme.active()));
    }
    v
}

/// container → mount path → volume → PVC → PV → StorageClass → bytes, one
/// link a line.
pub fn lineage_lines(
    l: &PodLineage,
    theme: &Theme,
    title: &str,
    layer: &str,
    width: usize,
) -> Vec<Line<'static>> {
    // Each link wraps under itself, past its indent.
    let push = |out: &mut Vec<Line<'static>>, indent: usize, body: Vec<Span<'static>>| {
        let wrapped = super::markdown::wrap(&body, width.saturating_sub(indent).max(8));
        for (k, mut spans) in wrapped.into_iter().enumerate() {
            let pad = if k == 0 {
                indent.saturating_sub(2)
            } else {
                indent
            };
            let mut v = vec![Span::raw(" ".repeat(pad))];
            if k == 0 && indent >= 2 {
                v.push(Span::styled("→ ", theme.dim()));
            }
            v.append(&mut spans);
            out.push(Line::from(v));
        }
    };
    let mut title = fill(title, &[&l.pod]);
    if let Some(n) = &l.node {
        title.push_str(&format!(" @ {n}"));
    }
    let mut out = vec![Line::styled(title, theme.strong())];
    for c in &l.containers {
        out.push(Line::from(vec![
            Span::raw(" "),
            Span::styled(c.name.clone(), theme.strong()),
        ]));
        let mut first = vec![Span::styled(format!("{layer}: "), theme.dim())];
        first.extend(link_spans(&c.layer, theme));
        push(&mut out, 5, first);
        for m in &c.mounts {
            let ro = if m.read_only { " (ro)" } else { "" };
            out.push(Line::from(vec![
                Span::raw("   "),
                Span::styled(format!("{}{ro}", m.mount_path), theme.strong()),
            ]));
            for link in &m.chain {
                push(&mut out, 7, link_spans(link, theme));
            }
        }
    }
    out
}
