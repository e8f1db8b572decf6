//! `kubetutor classroom status [--json]`: every learner, as `kubetutor
//! status` shows one. The running `classroom serve` writes the document
//! (`status.json` in the classroom directory) after every change; this
//! reads it while the server's pid is alive, and the kept roster
//! otherwise (everyone then shows as not connected).

use super::roster::{Learner, Roster};
use crate::lesson::{Lang, Lesson};
use crate::text::fill;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// How the grid and the status say a duration: `45s`, `12m03s`, `2h05m`.
pub fn short_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// One learner's part of the document.
pub fn learner_doc(l: &Learner, lessons: &[Lesson], now: jiff::Timestamp) -> Value {
    let report = l.report.as_ref();
    let title_of = |id: &str| {
        lessons
            .iter()
            .find(|x| x.id() == id)
            .map(|x| x.meta.title.clone())
    };
    let current = report.and_then(|r| r.current_lesson());
    let steps: Vec<Value> = current
        .map(|cl| {
            let ours = lessons.iter().find(|x| x.id() == cl.id);
            cl.steps
                .iter()
                .map(|s| {
                    let title = ours.and_then(|o| o.step(&s.id)).map(|st| st.title.clone());
                    json!({
                        "id": s.id,
                        "title": title,
                        "state": s.state.as_str(),
                        "reason": s.reason,
                        "hint": s.hint,
                        "hints": s.hints,
                        "solution": s.solution,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let summary: Vec<Value> = report
        .map(|r| {
            r.lessons
                .iter()
                .map(|x| {
                    let done = x.steps.iter().filter(|s| s.state == crate::progress::StepState::Done).count();
                    json!({"id": x.id, "title": title_of(&x.id), "done": done, "steps": x.steps.len()})
                })
                .collect()
        })
        .unwrap_or_default();
    let (hints, solutions) = report.map_or((0, 0), |r| r.revealed());
    json!({
        "name": l.name,
        "connected": l.connected,
        "lesson": report.and_then(|r| r.lesson.clone()),
        "lesson_title": report.and_then(|r| r.lesson.as_deref()).and_then(title_of),
        "step": report.and_then(|r| r.step.clone()),
        "on_step_secs": l.on_step(now).map(|d| d.as_secs()),
        "last_activity": l.last_activity,
        "hints": hints,
        "solutions": solutions,
        "cluster": report.map(|r| r.cluster.clone()),
        "lang": report.map(|r| r.lang.clone()),
        "namespace": l.namespace,
        "steps": steps,
        "lessons": summary,
    })
}

/// The whole document: `classroom` (how it is followed) and `learners`
/// (by name).
pub fn document(
    roster: &Roster,
    lessons: &[Lesson],
    classroom: Value,
    now: jiff::Timestamp,
) -> Value {
    let learners: Vec<Value> = roster
        .learners
        .values()
        .map(|l| learner_doc(l, lessons, now))
        .collect();
    let mut classroom = classroom;
    classroom["hold"] = json!(roster.hold);
    classroom["message"] = json!(roster.message);
    classroom["learner_count"] = json!(roster.learners.len());
    classroom["connected_count"] = json!(roster.connected_count());
    json!({"classroom": classroom, "learners": learners})
}

struct Text {
    serving: &'static str,
    following: &'static str,
    not_running: &'static str,
    counts: &'static str,
    held: &'static str,
    message: &'static str,
    connected: &'static str,
    disconnected: &'static str,
    no_report: &'static str,
    lesson: &'static str,
    step: &'static str,
    lesson_done: &'static str,
    revealed: &'static str,
    last: &'static str,
    hint: &'static str,
    states: [&'static str; 4],
    nobody: &'static str,
}

static EN: Text = Text {
    serving: "Classroom: serving on {0} (pid {1}).",
    following: "Classroom: following the shared cluster {0} (pid {1}).",
    not_running: "Classroom: not running (start it with `kubetutor classroom serve`); the last known progress follows.",
    counts: "{0} learner(s), {1} connected.",
    held: "The class is held at lesson {0}.",
    message: "Last message: {0}",
    connected: "connected",
    disconnected: "not connected",
    no_report: "no progress reported yet",
    lesson: "lesson {0}",
    step: "step {0}, {1} on it",
    lesson_done: "lesson done",
    revealed: "{0} hint(s), {1} solution(s) revealed",
    last: "last activity {0} ago",
    hint: "hint:",
    states: ["pending", "active", "done", "failing"],
    nobody: "No learner has joined yet.",
};

static FR: Text = Text {
    serving: "Classe : serveur sur {0} (pid {1}).",
    following: "Classe : suivi du cluster partagé {0} (pid {1}).",
    not_running: "Classe : rien ne tourne (lancez `kubetutor classroom serve`) ; voici la dernière progression connue.",
    counts: "{0} apprenant(s), {1} connecté(s).",
    held: "La classe est retenue à la leçon {0}.",
    message: "Dernier message : {0}",
    connected: "connecté",
    disconnected: "non connecté",
    no_report: "aucune progression reçue",
    lesson: "leçon {0}",
    step: "étape {0}, depuis {1}",
    lesson_done: "leçon terminée",
    revealed: "{0} indice(s), {1} solution(s) dévoilé(s)",
    last: "dernière activité il y a {0}",
    hint: "indice :",
    states: ["à faire", "en cours", "fait", "en échec"],
    nobody: "Aucun apprenant n'a encore rejoint la classe.",
};

fn text(lang: Lang) -> &'static Text {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// The document as lines, for people and screen readers.
pub fn write_text(
    doc: &Value,
    lang: Lang,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let t = text(lang);
    let c = &doc["classroom"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let pid = c["pid"].as_u64().unwrap_or(0);
    match c["state"].as_str() {
        Some("serving") => writeln!(out, "{}", fill(t.serving, &[&s(&c["listen"]), &pid]))?,
        Some("following") => writeln!(out, "{}", fill(t.following, &[&s(&c["context"]), &pid]))?,
        _ => writeln!(out, "{}", t.not_running)?,
    }
    let learners = doc["learners"].as_array().cloned().unwrap_or_default();
    let connected = learners.iter().filter(|l| l["connected"] == true).count();
    writeln!(out, "{}", fill(t.counts, &[&learners.len(), &connected]))?;
    if let Some(h) = c["hold"].as_str() {
        writeln!(out, "{}", fill(t.held, &[&h]))?;
    }
    if let Some(m) = c["message"]["text"].as_str() {
        writeln!(out, "{}", fill(t.message, &[&m]))?;
    }
    if learners.is_empty() {
        writeln!(out, "{}", t.nobody)?;
    }
    for l in &learners {
        writeln!(out)?;
        write_learner(l, t, now, out)?;
    }
    Ok(())
}

fn write_learner(
    l: &Value,
    t: &Text,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut head = vec![
        s(&l["name"]),
        if l["connected"] == true {
            t.connected
        } else {
            t.disconnected
        }
        .to_owned(),
    ];
    match l["lesson"].as_str() {
        None => head.push(t.no_report.to_owned()),
        Some(id) => {
            let title = l["lesson_title"]
                .as_str()
                .map_or(id.to_owned(), |x| format!("{x} ({id})"));
            head.push(fill(t.lesson, &[&title]));
            let steps = l["steps"].as_array().cloned().unwrap_or_default();
            match l["step"].as_str() {
                Some(step) => {
                    let title = steps
                        .iter()
                        .find(|x| x["id"] == step)
                        .and_then(|x| x["title"].as_str())
                        .map_or(step.to_owned(), |x| format!("{x} ({step})"));
                    let on = short_duration(l["on_step_secs"].as_i64().unwrap_or(0));
                    head.push(fill(t.step, &[&title, &on]));
                }
                None => head.push(t.lesson_done.to_owned()),
            }
            head.push(fill(t.revealed, &[&l["hints"], &l["solutions"]]));
        }
    }
    if let Some(at) = l["last_activity"]
        .as_str()
        .and_then(|a| a.parse::<jiff::Timestamp>().ok())
    {
        head.push(fill(
            t.last,
            &[&short_duration(now.duration_since(at).as_secs())],
        ));
    }
    writeln!(out, "{}", head.join(" — "))?;
    let width = t
        .states
        .iter()
        .map(|x| x.chars().count())
        .max()
        .unwrap_or(7)
        + 2;
    for st in l["steps"].as_array().into_iter().flatten() {
        let state = match st["state"].as_str() {
            Some("active") => t.states[1],
            Some("done") => t.states[2],
            Some("failing") => t.states[3],
            _ => t.states[0],
        };
        let mark = format!("[{state}]");
        let title = st["title"]
            .as_str()
            .unwrap_or_else(|| st["id"].as_str().unwrap_or(""));
        writeln!(out, "  {mark:<width$} {title} ({})", s(&st["id"]))?;
        let pad = " ".repeat(width + 3);
        if let Some(r) = st["reason"].as_str() {
            writeln!(out, "{pad}{r}")?;
        }
        if let Some(h) = st["hint"].as_str() {
            writeln!(out, "{pad}{} {h}", t.hint)?;
        }
    }
    Ok(())
}

/// `classroom status`: the live document, else the kept roster.
pub fn command(
    data_dir: &Path,
    lessons: &[Lesson],
    lang: Lang,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    let doc = match crate::live_status::read_live(&super::files::status_file(data_dir)) {
        Some(d) => d,
        None => {
            let (roster, warning) = super::files::load_roster(data_dir);
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            document(&roster, lessons, json!({"state": "not running"}), now)
        }
    };
    if as_json {
        // Written as bytes: a closed pipe is then an io::Error, which the
        // CLI takes quietly (`classroom status --json | head`).
        let text = serde_json::to_string_pretty(&doc)?;
        writeln!(out, "{text}")?;
    } else {
        write_text(&doc, lang, now, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::report::Report;
    use crate::course::Course;

    #[test]
    fn durations() {
        assert_eq!(short_duration(-3), "0s");
        assert_eq!(short_duration(59), "59s");
        assert_eq!(short_duration(723), "12m03s");
        assert_eq!(short_duration(7500), "2h05m");
    }

    #[test]
    fn a_learner_in_json_and_text() {
        let course = Course::embedded().unwrap();
        let lessons = course.lessons(Lang::En);
        let l = &lessons[0];
        let doc = json!({
            "current": {"lesson": l.id(), "step": l.steps[1].id},
            "lessons": [{"id": l.id(), "steps": [
                {"id": l.steps[0].id, "state": "done", "hints": 1},
                {"id": l.steps[1].id, "state": "failing", "reason": "no pod yet"},
            ]}],
        });
        let mut roster = Roster::default();
        roster.admit("ana", None).unwrap();
        let t0 = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        roster.report("ana", Report::from_status(&doc, 65), t0);
        let d = document(
            &roster,
            lessons,
            json!({"state": "serving", "listen": "0.0.0.0:7443", "pid": 1}),
            t0,
        );
        let ana = &d["learners"][0];
        assert_eq!(ana["name"], "ana");
        assert_eq!(ana["connected"], true);
        assert_eq!(ana["steps"][1]["state"], "failing");
        assert_eq!(ana["steps"][1]["reason"], "no pod yet");
        assert_eq!(ana["steps"][0]["title"], l.steps[0].title.as_str());
        assert_eq!(ana["on_step_secs"], 65);
        let mut out = Vec::new();
        write_text(&d, Lang::En, t0, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Classroom: serving on 0.0.0.0:7443"),
            "{text}"
        );
        assert!(text.contains("ana — connected — lesson"), "{text}");
        assert!(text.contains("1m05s on it"), "{text}");
        assert!(text.contains("no pod yet"), "{text}");
    }
}
