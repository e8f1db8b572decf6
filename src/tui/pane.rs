//! The live cluster pane: pods, PVCs and PVs of the course namespace as
//! kubectl prints them, the objects of the current step highlighted, deleted
//! objects dimmed for a few seconds, and (when the pane is focused) the
//! storage lineage of the selected pod. Columns are dropped from the right
//! when the pane is narrow, so the table never wraps.

use super::app::App;
use super::strings::fill;
use super::theme::Theme;
use crate::cluster::lineage::{Link, LinkKind, PodLineage, pod_lineage};
use crate::cluster::view::{PaneModel, PaneRequest, Row, pane_model};
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

/// A column: its header, how much it matters (0: always shown, then 1, 2...
/// in the order columns are kept when room is short) and, for a column
/// that may be cut with …, the fewest columns it is cut to.
#[derive(Debug, Clone, Copy)]
struct Col {
    head: &'static str,
    rank: u8,
    cut_to: Option<usize>,
}

const fn col(head: &'static str, rank: u8, cut_to: Option<usize>) -> Col {
    Col { head, rank, cut_to }
}

struct Table {
    cols: Vec<Col>,
    /// Columns of rank up to this are kept by cutting others' long cells.
    essential: u8,
    rows: Vec<(Vec<String>, Mark, bool)>,
}

impl Table {
    fn new(cols: &[Col], essential: u8) -> Table {
        Table {
            cols: cols.to_vec(),
            essential,
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

    /// Which columns fit in `avail` and how wide each is drawn. The first
    /// column and the essential ones (rank up to `essential`) are kept by
    /// cutting long cells (names, claims...) with … rather than dropped;
    /// the other columns come, by rank, only where they fit uncut.
    fn layout(&self, avail: usize) -> Vec<(usize, usize)> {
        let n = self.cols.len();
        let mut natural: Vec<usize> = self.cols.iter().map(|c| c.head.width()).collect();
        for (cells, _, _) in &self.rows {
            for (w, c) in natural.iter_mut().zip(cells) {
                *w = (*w).max(c.width().min(MAX_CELL));
            }
        }
        let least: Vec<usize> = (0..n)
            .map(|i| match self.cols[i].cut_to {
                Some(m) => natural[i].min(m.max(self.cols[i].head.width())),
                None => natural[i],
            })
            .collect();
        // Widths for a set of columns within `avail`, cutting the widest
        // cuttable cell first; `None` when even cut they do not fit.
        let fit = |set: &[usize]| -> Option<Vec<usize>> {
            let mut w: Vec<usize> = set.iter().map(|i| natural[*i]).collect();
            let gaps = 2 * set.len().saturating_sub(1);
            let mut total: usize = w.iter().sum::<usize>() + gaps;
            while total > avail {
                let k = (0..set.len())
                    .filter(|k| w[*k] > least[set[*k]])
                    .max_by_key(|k| (w[*k], usize::MAX - *k))?;
                w[k] -= 1;
                total -= 1;
            }
            Some(w)
        };
        let mut order: Vec<usize> = (1..n).collect();
        order.sort_by_key(|i| (self.cols[*i].rank, *i));
        let mut chosen = vec![0];
        for i in order {
            let mut with = chosen.clone();
            with.push(i);
            with.sort_unstable();
            let ok = if self.cols[i].rank <= self.essential {
                fit(&with).is_some()
            } else {
                let natural_total: usize =
                    with.iter().map(|k| natural[*k]).sum::<usize>() + 2 * (with.len() - 1);
                natural_total <= avail
            };
            if ok {
                chosen = with;
            }
        }
        match fit(&chosen) {
            Some(w) => chosen.into_iter().zip(w).collect(),
            // The first column alone is too wide: cut it to the pane.
            None => vec![(0, avail.max(1))],
        }
    }

    /// The header and rows, as many columns as fit in `width`.
    fn lines(&self, theme: &Theme, width: usize) -> Vec<Line<'static>> {
        // Gutter of 2 (marker + space), then columns separated by 2 spaces.
        let layout = self.layout(width.saturating_sub(2));
        let fmt = |cells: &[String]| -> String {
            let mut s = String::new();
            for (k, (i, w)) in layout.iter().enumerate() {
                let cell = cells.get(*i).map_or("", String::as_str);
                let cell = cut(cell, *w);
                let pad = w.saturating_sub(cell.width());
                s.push_str(&cell);
                if k + 1 < layout.len() {
                    s.push_str(&" ".repeat(pad + 2));
                }
            }
            s
        };
        let head: Vec<String> = self.cols.iter().map(|c| c.head.to_owned()).collect();
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
) -> LiveLines {
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
    // Focused, the pane also shows the selected pod's lineage: the pods
    // table keeps a few rows around the selection.
    let pod_room = if focused {
        (budget / 4).max(3)
    } else {
        budget.saturating_sub(others).max(budget / 2)
    }
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
    let window = PodWindow {
        offset,
        rows: pod_room,
        focused,
    };
    let mut lines = pod_lines(app, &model, window, width);
    // The storage lineage of the selected pod, when the pane has focus.
    let lineage = if focused {
        model
            .pods
            .get(app.pod_sel.saturating_sub(offset))
            .filter(|r| r.fade.is_none())
            .and_then(|r| state.pod(&state.namespace, &r.row.name))
            .map(|p| pod_lineage(p, state))
    } else {
        None
    };
    lines.extend(pvc_lines(app, &model, width));
    lines.extend(pv_lines(app, &model, width));
    let mut lineage_max = 0;
    if focused {
        match &lineage {
            Some(l) => lineage_max = add_lineage(app, l, &mut lines, budget, width),
            None if model.pod_total > 0 => {
                lines.push(Line::styled(
                    app.strings().pane_select_hint,
                    app.theme.dim(),
                ));
            }
            None => {}
        }
    }
    LiveLines { lines, lineage_max }
}

/// Which pod rows the pane shows.
#[derive(Clone, Copy)]
struct PodWindow {
    offset: usize,
    rows: usize,
    focused: bool,
}

/// The pods table (or its "none" line), and "… n/m" when rows are hidden.
fn pod_lines(app: &App, model: &PaneModel, w: PodWindow, width: usize) -> Vec<Line<'static>> {
    let (theme, s) = (app.theme, app.strings());
    let PodWindow {
        offset,
        rows: pod_room,
        focused,
    } = w;
    let mut lines = Vec::new();
    if model.pods.is_empty() {
        lines.push(Line::styled(
            format!("{}{}", s.pane_pods, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(
            &[
                col("POD", 0, Some(10)),
                col("READY", 2, None),
                col("STATUS", 1, Some(12)),
                col("RESTARTS", 3, None),
                col("AGE", 4, None),
                col("VOLUMES", 5, Some(12)),
            ],
            2,
        );
        for (i, r) in model.pods.iter().enumerate() {
            let p = &r.row;
            let status = if r.fade.is_some() {
                // A ghost: the pod is gone, whatever it last said.
                s.pane_deleted.to_owned()
            } else if p.terminating && p.status != "Terminating" {
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

    lines
}

/// The claims table (or its "none" line).
fn pvc_lines(app: &App, model: &PaneModel, width: usize) -> Vec<Line<'static>> {
    let (theme, s) = (app.theme, app.strings());
    let mut lines = Vec::new();
    if model.pvcs.is_empty() {
        lines.push(Line::styled(
            format!("{}{}", s.pane_pvcs, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(
            &[
                col("PVC", 0, Some(12)),
                col("STATUS", 1, None),
                col("VOLUME", 2, Some(10)),
                col("CAPACITY", 3, None),
                col("ACCESS", 4, None),
                col("CLASS", 5, Some(10)),
                col("AGE", 6, None),
            ],
            3,
        );
        for r in &model.pvcs {
            let p = &r.row;
            let status = if r.fade.is_some() {
                s.pane_deleted.to_owned()
            } else {
                p.status.clone()
            };
            t.push(
                r,
                vec![
                    p.name.clone(),
                    status,
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

    lines
}

/// The volumes table (or its "none" line).
fn pv_lines(app: &App, model: &PaneModel, width: usize) -> Vec<Line<'static>> {
    let (theme, s, state) = (app.theme, app.strings(), &app.state);
    let mut lines = Vec::new();
    if model.pvs.is_empty() {
        lines.push(Line::styled(
            format!("{}{}", s.pane_pvs, s.pane_none),
            theme.dim(),
        ));
    } else {
        let mut t = Table::new(
            &[
                col("PV", 0, Some(12)),
                col("STATUS", 1, None),
                col("CLAIM", 2, Some(14)),
                col("RECLAIM", 3, None),
                col("CAPACITY", 4, None),
                col("CLASS", 5, Some(10)),
                col("REASON", 6, Some(10)),
                col("AGE", 7, None),
            ],
            3,
        );
        // Claims of the course namespace (all of them, usually) without
        // the `namespace/` that kubectl prints: the room goes to the name.
        let own = format!("{}/", state.namespace);
        for r in &model.pvs {
            let p = &r.row;
            let status = if r.fade.is_some() {
                s.pane_deleted.to_owned()
            } else {
                p.status.clone()
            };
            let claim = p.claim.strip_prefix(&own).unwrap_or(&p.claim).to_owned();
            t.push(
                r,
                vec![
                    p.name.clone(),
                    status,
                    claim,
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

    lines
}

/// Adds the selected pod's lineage under the tables: the tables keep at
/// most half of the pane and the lineage scrolls (J/K, PgUp/PgDn). Returns
/// how far it can scroll.
fn add_lineage(
    app: &App,
    l: &PodLineage,
    lines: &mut Vec<Line<'static>>,
    budget: usize,
    width: usize,
) -> usize {
    let (theme, s) = (app.theme, app.strings());
    let mut lineage_max = 0;
    let lin = lineage_lines(l, &theme, s.pane_lineage, s.pane_layer, width);
    // Tables and lineage share the pane: the tables keep at
    // most half of it; the lineage scrolls (J/K, PgUp/PgDn).
    let keep = budget
        .saturating_sub(lin.len())
        .max(budget / 2)
        .min(lines.len());
    lines.truncate(keep);
    let room = budget.saturating_sub(keep);
    if lin.len() <= room {
        lines.extend(lin);
    } else if room > 0 {
        // The title stays; the links scroll under it, with a
        // last line saying how much more there is.
        let body = room.saturating_sub(2);
        lineage_max = lin.len().saturating_sub(1 + body);
        let top = app.lineage_scroll.min(lineage_max);
        let mut it = lin.into_iter();
        lines.extend(it.next());
        let rest: Vec<Line<'static>> = it.collect();
        let below = rest.len().saturating_sub(top + body);
        lines.extend(rest.into_iter().skip(top).take(body));
        if room >= 2 {
            let more = if below > 0 {
                fill(s.pane_more, &[&below])
            } else {
                s.pane_more_above.to_owned()
            };
            lines.push(Line::styled(more, theme.active()));
        }
    }
    lineage_max
}

/// What the live pane draws, and how far its lineage can scroll.
pub struct LiveLines {
    pub lines: Vec<Line<'static>>,
    pub lineage_max: usize,
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
    // The title wraps too (a generated pod name and its node are long).
    let mut out: Vec<Line<'static>> =
        super::markdown::wrap(&[Span::styled(title, theme.strong())], width.max(8))
            .into_iter()
            .map(Line::from)
            .collect();
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
