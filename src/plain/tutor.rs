//! The state of a plain-mode session and its two entry points: a typed
//! command (`Tutor::command`) and an event from the cluster or the checker
//! (`Tutor::event`). Like the TUI's `App` it owns progress (saved through
//! the non-blocking `ProgressSaver`), tells the checker the active step and
//! quiz answers, and never does I/O: it returns lines to print and
//! actions (copy, shell, quit) for the loop to carry out.

use super::announce::{Announcer, Subject};
use super::commands::{self, Command, Unit};
use super::output::{OutLine, Tone};
use super::render::{self, LessonText, TextEnv};
use super::words::{Words, fill, words};
use crate::check::engine::CheckerHandle;
use crate::cluster::connection::ConnectionState;
use crate::cluster::{ClusterState, ClusterUpdate};
use crate::course::Course;
use crate::lesson::adapt::Facts;
use crate::lesson::{Lang, Lesson};
use crate::progress::{Current, Progress, ProgressSaver, StepState};
use crate::standing::{Standing, Verdict, Verdicts};
use crate::tui::event::{AppEvent, ClusterEvent, ConnState, ConnectionInfo};
use crate::tui::page::{StepView, quiz};
use crate::tui::strings::{Strings, strings};
use std::collections::HashMap;
use std::path::PathBuf;

/// What the loop does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Put this text on the clipboard.
    Copy(String),
    /// Hand the terminal to the course shell.
    Shell,
    Quit,
}

/// Everything a plain session knows.
pub struct Tutor {
    course: Course,
    lang: Lang,
    w: &'static Words,
    s: &'static Strings,
    progress: Progress,
    saver: ProgressSaver,
    lesson: usize,
    /// The last block of the open lesson printed.
    cursor: Option<usize>,
    verdicts: Verdicts,
    checker: Option<CheckerHandle>,
    /// The (lesson, step) the checker was last told to check.
    checking: Option<(String, String)>,
    connection: ConnectionInfo,
    state: ClusterState,
    live: bool,
    facts: Facts,
    announcer: Announcer,
    /// A step whose solution was asked for, waiting for a yes.
    confirm: Option<usize>,
    lab: Option<String>,
    lab_path: Option<PathBuf>,
    /// The last progress save error told.
    save_error: Option<String>,
    /// The classroom joined, if any: its hold and connection.
    classroom: Option<crate::classroom::ClassroomState>,
}

impl Tutor {
    /// `start`: a lesson id to open; otherwise the one in
    /// `progress.current`, otherwise the first.
    pub fn new(
        course: Course,
        lang: Lang,
        progress: Progress,
        saver: ProgressSaver,
        start: Option<&str>,
        connection: ConnectionInfo,
    ) -> Tutor {
        let lessons = course.lessons(lang);
        let by_id = |id: &str| lessons.iter().position(|l| l.id() == id);
        let shared_course_vars = course.vars().clone();
        let lesson = start
            .and_then(by_id)
            .or_else(|| progress.current.as_ref().and_then(|c| by_id(&c.lesson)))
            .unwrap_or(0);
        let mut t = Tutor {
            state: ClusterState::new(connection.namespace.clone()),
            course,
            lang,
            w: words(lang),
            s: strings(lang),
            progress,
            saver,
            lesson,
            cursor: None,
            verdicts: HashMap::new(),
            checker: None,
            checking: None,
            connection,
            live: false,
            facts: Facts::for_course(&shared_course_vars),
            announcer: Announcer::default(),
            confirm: None,
            lab: None,
            lab_path: None,
            save_error: None,
            classroom: None,
        };
        if t.connection.state == ConnState::Connected {
            t.announcer.said(Subject::Connection, "ok".into());
        }
        t.record_current();
        t
    }

    pub fn words(&self) -> &'static Words {
        self.w
    }

    pub fn set_checker(&mut self, checker: CheckerHandle) {
        checker.lang(self.lang);
        self.checker = Some(checker);
        self.checking = None;
        self.sync_checker();
    }

    pub fn set_lab_dir(&mut self, dir: &std::path::Path) {
        self.lab = Some(crate::paths::display_path(dir));
        self.lab_path = Some(dir.to_path_buf());
    }

    /// The lab directory, if it could be written.
    pub fn lab_path(&self) -> Option<&std::path::Path> {
        self.lab_path.as_deref()
    }

    /// The connection as the session knows it (for the shell's options).
    pub fn connection(&self) -> &ConnectionInfo {
        &self.connection
    }

    fn lessons(&self) -> &[Lesson] {
        self.course.lessons(self.lang)
    }

    fn current_lesson(&self) -> Option<&Lesson> {
        self.lessons().get(self.lesson)
    }

    /// What is printed first: the welcome, notices, the connection and
    /// the open lesson.
    pub fn opening(&mut self, notices: &[String]) -> Vec<OutLine> {
        let mut out = vec![OutLine::plain(self.w.welcome)];
        for n in notices {
            out.push(OutLine::plain(fill(self.w.note, &[n])));
        }
        out.push(OutLine::plain(self.connection_line()));
        out.push(OutLine::plain(""));
        out.extend(self.open_lesson(self.lesson));
        out
    }

    fn connection_line(&self) -> String {
        let c = &self.connection;
        match &c.state {
            ConnState::Connected => fill(self.w.connected, &[&c.context, &c.namespace]),
            ConnState::Reconnecting(r) => fill(self.w.reconnecting, &[r]),
            ConnState::Error(e) => fill(self.w.connection_failed, &[e]),
            ConnState::Connecting | ConnState::NotConnected => self.w.connecting.to_owned(),
        }
    }

    /// Saves where the learner is; called once, at the end.
    pub fn finish(&mut self) {
        self.record_current();
        self.save();
    }

    // ----- state shared with the TUI's rules -----

    /// The first step of the open lesson that is not done.
    fn active_step(&self) -> Option<usize> {
        self.standing().active_step()
    }

    /// Where the learner stands (the rules shared with the TUI).
    fn standing(&self) -> Standing<'_> {
        Standing {
            lessons: self.lessons(),
            lesson: self.lesson,
            progress: &self.progress,
            verdicts: &self.verdicts,
        }
    }

    /// The state shown for a step.
    fn step_state(&self, lesson: &Lesson, index: usize) -> StepState {
        self.standing().step_state(lesson, index)
    }

    /// What the checker last said about a step that is not done.
    fn step_reason(&self, lesson: &Lesson, index: usize) -> Option<&str> {
        self.standing().step_reason(lesson, index)
    }

    /// The live hint the checker shows for a step that is not done.
    fn step_hint(&self, lesson: &Lesson, index: usize) -> Option<&str> {
        self.standing().step_hint(lesson, index)
    }

    fn save(&mut self) {
        self.saver.save(&self.progress);
    }

    fn record_current(&mut self) {
        let Some(l) = self.current_lesson() else {
            return;
        };
        let lesson = l.id().to_owned();
        let step = self
            .active_step()
            .and_then(|i| l.steps.get(i))
            .map(|s| s.id.clone());
        // The TUI's scroll offset is kept while the lesson stays the same.
        let scroll = self
            .progress
            .current
            .as_ref()
            .filter(|c| c.lesson == lesson)
            .map_or(0, |c| c.scroll);
        self.progress.lang = Some(self.lang);
        self.progress.current = Some(Current {
            lesson,
            step,
            scroll,
        });
    }

    /// Tells the checker about the active step when it changed.
    fn sync_checker(&mut self) {
        let Some(checker) = &self.checker else {
            return;
        };
        if let Some(key) = self
            .standing()
            .sync_checker(checker, self.checking.as_ref())
        {
            self.checking = key;
        }
    }

    /// The open lesson as plain text, as it stands now.
    fn text(&self) -> LessonText {
        let Some(l) = self.current_lesson() else {
            return LessonText::default();
        };
        let views: Vec<StepView> = (0..l.steps.len())
            .map(|i| StepView {
                state: self.step_state(l, i),
                hints: self.progress.hints_revealed(l.id(), &l.steps[i].id),
                solution: self.progress.solution_revealed(l.id(), &l.steps[i].id),
            })
            .collect();
        let kubeconfig = self
            .connection
            .kubeconfig
            .as_ref()
            .filter(|_| self.connection.context == sandbox::CONTEXT)
            .map(|p| p.to_string_lossy().into_owned());
        render::lesson_text(
            l,
            &views,
            &TextEnv {
                words: self.w,
                strings: self.s,
                lab: self.lab.as_deref(),
                kubeconfig: kubeconfig.as_deref(),
                facts: &self.facts,
            },
        )
    }

    /// Blocks `range` of `text`, step headings marked; the cursor moves to
    /// the last one.
    fn show(&mut self, text: &LessonText, range: std::ops::Range<usize>) -> Vec<OutLine> {
        let mut out = Vec::new();
        let Some(last) = range.end.checked_sub(1) else {
            return out;
        };
        for i in range {
            let Some(b) = text.blocks.get(i) else { break };
            if !out.is_empty() {
                out.push(OutLine::plain(""));
            }
            let heading = text
                .sections
                .iter()
                .any(|s| s.start == i && s.step.is_some());
            for (k, l) in b.lines.iter().enumerate() {
                let tone = if heading && k == 0 {
                    Tone::Heading
                } else {
                    Tone::Plain
                };
                out.push(OutLine::toned(tone, l.clone()));
            }
        }
        self.cursor = Some(last);
        out
    }

    // ----- commands -----

    /// Runs one typed line.
    pub fn command(&mut self, line: &str) -> (Vec<OutLine>, Action) {
        let cmd = commands::parse(line, self.confirm.is_some());
        let asked = self.confirm.take();
        let mut action = Action::None;
        let out = match cmd {
            Command::Yes => match asked {
                Some(step) => self.reveal_solution(step),
                None => self.say(self.w.solution_not_shown),
            },
            Command::No => self.say(self.w.solution_not_shown),
            Command::Empty | Command::Next(Unit::Paragraph) => self.next_paragraph(),
            Command::Previous(Unit::Paragraph) => self.previous_paragraph(),
            Command::Next(Unit::Step) => self.move_step(true),
            Command::Previous(Unit::Step) => self.move_step(false),
            Command::Next(Unit::Lesson) => self.move_lesson(true),
            Command::Previous(Unit::Lesson) => self.move_lesson(false),
            Command::Step => self.current_step(),
            Command::Steps => self.steps(),
            Command::Read => {
                let text = self.text();
                let n = text.blocks.len();
                self.show(&text, 0..n)
            }
            Command::Hint => self.hint(),
            Command::Solution => self.solution(),
            Command::Answer(args) => self.answer(&args),
            Command::Lessons => self.lesson_list(),
            Command::Lesson(None) => self.say(self.w.lesson_usage),
            Command::Lesson(Some(key)) => match self.find_lesson(&key) {
                Some(i) => self.open_lesson(i),
                None => self.say(&fill(self.w.no_such_lesson, &[&key])),
            },
            Command::Copy => match self.code_to_copy() {
                Some(code) => {
                    action = Action::Copy(code);
                    Vec::new()
                }
                None => self.say(self.w.no_code),
            },
            Command::Cluster => super::cluster::summary(&self.state, self.live, self.w)
                .into_iter()
                .map(OutLine::plain)
                .collect(),
            Command::Shell => {
                action = Action::Shell;
                Vec::new()
            }
            Command::Help => self.help(),
            Command::Quit => {
                action = Action::Quit;
                Vec::new()
            }
            Command::Unknown(word) => self.say(&fill(self.w.unknown, &[&word])),
        };
        let mut out = out;
        self.after(&mut out);
        (out, action)
    }

    fn say(&self, text: &str) -> Vec<OutLine> {
        vec![OutLine::plain(text)]
    }

    /// After every command and event: the checker follows the active step,
    /// and a failed progress write is told once.
    fn after(&mut self, out: &mut Vec<OutLine>) {
        self.sync_checker();
        let err = self.saver.last_error();
        if err != self.save_error {
            if let Some(e) = &err {
                out.push(OutLine::plain(fill(self.w.save_failed, &[e])));
            }
            self.save_error = err;
        }
    }

    fn next_paragraph(&mut self) -> Vec<OutLine> {
        let text = self.text();
        let next = self.cursor.map_or(0, |c| c + 1);
        if next >= text.blocks.len() {
            return self.say(self.w.end_of_lesson);
        }
        self.show(&text, next..next + 1)
    }

    fn previous_paragraph(&mut self) -> Vec<OutLine> {
        let text = self.text();
        match self.cursor {
            Some(c) if c > 0 => {
                let prev = (c - 1).min(text.blocks.len().saturating_sub(1));
                self.show(&text, prev..prev + 1)
            }
            _ => self.say(self.w.start_of_lesson),
        }
    }

    /// The whole next or previous step (from the one being read).
    fn move_step(&mut self, forward: bool) -> Vec<OutLine> {
        let text = self.text();
        let here = self.cursor.and_then(|c| {
            text.sections
                .iter()
                .position(|s| (s.start..s.end).contains(&c))
        });
        let target = match (here, forward) {
            (None, true) => Some(1),
            (Some(i), true) => Some(i + 1),
            (Some(i), false) if i >= 2 => Some(i - 1),
            _ => None,
        };
        match target.and_then(|i| text.sections.get(i).copied()) {
            Some(s) => self.show(&text, s.start..s.end),
            None if forward => self.say(self.w.no_next_step),
            None => self.say(self.w.no_previous_step),
        }
    }

    fn move_lesson(&mut self, forward: bool) -> Vec<OutLine> {
        let n = self.lessons().len();
        if forward && self.lesson + 1 < n {
            self.open_lesson(self.lesson + 1)
        } else if !forward && self.lesson > 0 {
            self.open_lesson(self.lesson - 1)
        } else if forward {
            self.say(self.w.last_lesson)
        } else {
            self.say(self.w.first_lesson)
        }
    }

    /// A lesson by number (1-based) or id.
    fn find_lesson(&self, key: &str) -> Option<usize> {
        let lessons = self.lessons();
        if let Some(i) = lessons.iter().position(|l| l.id() == key) {
            return Some(i);
        }
        key.parse::<usize>()
            .ok()
            .filter(|n| (1..=lessons.len()).contains(n))
            .map(|n| n - 1)
    }

    /// Opens lesson `index`: its header, then its introduction when no
    /// step is done yet, else the step to do.
    fn open_lesson(&mut self, index: usize) -> Vec<OutLine> {
        if self.lessons().is_empty() {
            return self.say(self.w.no_lessons);
        }
        // A classroom hold stops the learner at its lesson.
        if let Some(Err(why)) = self
            .classroom
            .as_ref()
            .map(|c| c.allows(self.lessons(), self.lesson, index, self.lang))
        {
            return vec![OutLine::plain(why)];
        }
        self.lesson = index.min(self.lessons().len() - 1);
        self.cursor = None;
        self.record_current();
        self.save();
        let mut out = self.lesson_header();
        let text = self.text();
        let active = self.active_step();
        let Some(l) = self.current_lesson() else {
            return out;
        };
        let started = self.progress.done_count(l.id()) > 0;
        let intro = text.sections.first().map_or(0..0, |s| s.start..s.end);
        let step = active
            .and_then(|i| text.step_section(i))
            .map(|s| s.start..s.end);
        out.push(OutLine::plain(""));
        match (started, step) {
            (false, Some(step)) => {
                out.extend(self.show(&text, intro));
                out.push(OutLine::plain(""));
                out.extend(self.show(&text, step));
            }
            (true, Some(step)) => {
                // The lab note (the first block) still matters on return.
                out.extend(self.show(&text, 0..1));
                out.push(OutLine::plain(""));
                out.extend(self.show(&text, step));
            }
            (_, None) => {
                out.extend(self.show(&text, intro));
                out.push(OutLine::plain(""));
                out.push(OutLine::plain(self.w.all_done));
            }
        }
        out
    }

    fn lesson_header(&self) -> Vec<OutLine> {
        let Some(l) = self.current_lesson() else {
            return Vec::new();
        };
        let done = l
            .steps
            .iter()
            .filter(|s| self.progress.is_done(l.id(), &s.id))
            .count();
        vec![
            OutLine::toned(
                Tone::Heading,
                fill(
                    self.w.lesson_header,
                    &[
                        &(self.lesson + 1),
                        &self.lessons().len(),
                        &l.meta.title,
                        &l.meta.minutes,
                        &done,
                        &l.steps.len(),
                    ],
                ),
            ),
            OutLine::plain(l.meta.summary.clone()),
        ]
    }

    /// The active step in full, with what the checker last said about it.
    fn current_step(&mut self) -> Vec<OutLine> {
        let Some(i) = self.active_step() else {
            return self.say(self.w.all_done);
        };
        let text = self.text();
        let Some(s) = text.step_section(i).copied() else {
            return Vec::new();
        };
        let mut out = self.show(&text, s.start..s.end);
        if let Some(l) = self.current_lesson() {
            let reason = self.step_reason(l, i).map(str::to_owned);
            let hint = self.step_hint(l, i).map(str::to_owned);
            let failing = self.step_state(l, i) == StepState::Failing;
            let template = if failing {
                self.w.failing
            } else {
                self.w.waiting
            };
            if let Some(r) = reason {
                out.push(OutLine::plain(""));
                out.push(OutLine::plain(fill(template, &[&(i + 1), &r])));
            }
            if let Some(h) = hint {
                out.push(OutLine::plain(fill(self.w.live_hint, &[&h])));
            }
        }
        out
    }

    /// The checklist: every step with its state, and what the checker
    /// waits for.
    fn steps(&self) -> Vec<OutLine> {
        let Some(l) = self.current_lesson() else {
            return self.say(self.w.no_lessons);
        };
        let n = l.steps.len();
        let mut out = vec![OutLine::plain(fill(
            self.w.steps_title,
            &[&(self.lesson + 1), &self.lessons().len(), &l.meta.title],
        ))];
        for (i, step) in l.steps.iter().enumerate() {
            let state = self.step_state(l, i);
            let tone = match state {
                StepState::Done => Tone::Done,
                StepState::Failing => Tone::Failing,
                _ => Tone::Plain,
            };
            out.push(OutLine::toned(
                tone,
                tidy(fill(
                    self.w.steps_row,
                    &[
                        &(i + 1),
                        &n,
                        &render::state_word(self.w, state),
                        &step.title,
                    ],
                )),
            ));
            if let Some(r) = self.step_reason(l, i) {
                out.push(OutLine::plain(fill(self.w.steps_reason, &[&r])));
            }
            if let Some(h) = self.step_hint(l, i) {
                out.push(OutLine::plain(format!(
                    "  {}",
                    fill(self.w.live_hint, &[&h])
                )));
            }
        }
        out
    }

    fn hint(&mut self) -> Vec<OutLine> {
        let Some(i) = self.active_step() else {
            return self.say(self.w.all_done);
        };
        let Some(l) = self.current_lesson() else {
            return Vec::new();
        };
        let (lid, step) = (l.id().to_owned(), &l.steps[i]);
        let (sid, total) = (step.id.clone(), step.hints.len());
        if total == 0 {
            return self.say(self.w.no_hints);
        }
        if self.progress.hints_revealed(&lid, &sid) as usize >= total {
            return self.say(self.w.no_more_hints);
        }
        let n = self
            .progress
            .reveal_hint(&lid, &sid, u32::try_from(total).unwrap_or(u32::MAX))
            as usize;
        self.record_current();
        self.save();
        let Some(hint) = self
            .current_lesson()
            .and_then(|l| l.steps.get(i))
            .and_then(|s| s.hints.get(n.saturating_sub(1)))
        else {
            return Vec::new();
        };
        let label = if crate::tui::page::generic_hint_label(&hint.label) {
            fill(self.w.hint, &[&n, &total])
        } else {
            fill(
                self.w.hint_labelled,
                &[&n as &dyn std::fmt::Display, &total, &hint.label.trim()],
            )
        };
        let body = crate::lesson::adapt::adapt(&hint.body.source, &self.facts).into_owned();
        blocks_lines(render::labelled(label, render::markdown(&body, self.w)))
    }

    fn solution(&mut self) -> Vec<OutLine> {
        let Some(i) = self.active_step() else {
            return self.say(self.w.all_done);
        };
        let Some(l) = self.current_lesson() else {
            return Vec::new();
        };
        let step = &l.steps[i];
        if step.solution.is_none() {
            return self.say(self.w.no_solution);
        }
        if self.progress.solution_revealed(l.id(), &step.id) {
            return self.reveal_solution(i);
        }
        let question = fill(self.w.solution_question, &[&(i + 1), &step.title]);
        self.confirm = Some(i);
        self.say(&question)
    }

    fn reveal_solution(&mut self, step: usize) -> Vec<OutLine> {
        let Some(l) = self.current_lesson() else {
            return Vec::new();
        };
        let Some(s) = l.steps.get(step) else {
            return Vec::new();
        };
        let (lid, sid) = (l.id().to_owned(), s.id.clone());
        let body = s
            .solution
            .as_ref()
            .map(|m| crate::lesson::adapt::adapt(&m.source, &self.facts).into_owned())
            .unwrap_or_default();
        self.progress.reveal_solution(&lid, &sid);
        self.record_current();
        self.save();
        blocks_lines(render::labelled(
            self.w.solution.to_owned(),
            render::markdown(&body, self.w),
        ))
    }

    fn answer(&mut self, args: &[String]) -> Vec<OutLine> {
        let Some(i) = self.active_step() else {
            return self.say(self.w.all_done);
        };
        let Some(l) = self.current_lesson() else {
            return Vec::new();
        };
        let step = &l.steps[i];
        let Some(q) = quiz(step) else {
            return self.say(self.w.not_a_quiz);
        };
        let chosen = match commands::choices(args, q.choices.len()) {
            Ok(c) if c.is_empty() => return self.say(self.w.answer_usage),
            Ok(c) => c,
            Err((bad, last)) => return self.say(&fill(self.w.answer_bad, &[&bad, &last])),
        };
        if q.answers.len() == 1 && chosen.len() > 1 {
            return self.say(self.w.answer_one);
        }
        let (lid, sid) = (l.id().to_owned(), step.id.clone());
        if let Some(c) = &self.checker {
            c.answer(&sid, chosen.clone());
        }
        let mut right = q.answers.clone();
        right.sort_unstable();
        if chosen != right {
            return if right.len() > 1 {
                self.say(&fill(self.w.wrong_many, &[&right.len()]))
            } else {
                self.say(self.w.wrong)
            };
        }
        // A quiz has no cluster state to watch: it is passed here, as the
        // TUI does.
        let mut out = self.say(self.w.right);
        if let Some(ex) = &q.explain {
            out.extend(blocks_lines(render::markdown(ex, self.w)));
        }
        out.extend(self.check(lid, sid, StepState::Done, None, None));
        out
    }

    fn lesson_list(&self) -> Vec<OutLine> {
        if self.lessons().is_empty() {
            return self.say(self.w.no_lessons);
        }
        let mut out = vec![OutLine::plain(self.w.lessons_title)];
        for (i, l) in self.lessons().iter().enumerate() {
            let done = l
                .steps
                .iter()
                .filter(|s| self.progress.is_done(l.id(), &s.id))
                .count();
            let mut row = fill(
                self.w.lessons_row,
                &[
                    &(i + 1),
                    &l.meta.title,
                    &l.meta.minutes,
                    &done,
                    &l.steps.len(),
                ],
            );
            if i == self.lesson {
                row.push(' ');
                row.push_str(self.w.lessons_current);
            }
            out.push(OutLine::plain(row));
        }
        out
    }

    /// The code block read last (or, before any, the first one after the
    /// cursor).
    fn code_to_copy(&self) -> Option<String> {
        let text = self.text();
        let upto = self.cursor.map_or(0, |c| c + 1).min(text.blocks.len());
        text.blocks[..upto]
            .iter()
            .rev()
            .find_map(|b| b.codes.last().cloned())
            .or_else(|| {
                text.blocks[upto..]
                    .iter()
                    .find_map(|b| b.codes.first().cloned())
            })
    }

    fn help(&self) -> Vec<OutLine> {
        let mut out = vec![OutLine::plain(self.w.help_title)];
        for (cmd, what) in self.w.help {
            let what = self
                .s
                .keys
                .iter()
                .find(|(key, _)| *key == what)
                .map_or(what, |(_, d)| d);
            out.push(OutLine::plain(format!("- {cmd}: {what}")));
        }
        out.push(OutLine::plain(self.s.help_footer.trim()));
        if let Some(dir) = &self.lab {
            out.push(OutLine::plain(fill(self.w.lab, &[dir])));
        }
        out
    }

    // ----- events -----

    /// One event from the cluster watchers or the checker: what is news.
    pub fn event(&mut self, ev: AppEvent) -> Vec<OutLine> {
        let mut out = match ev {
            AppEvent::Cluster(ClusterEvent::Update(u)) => self.cluster(u),
            AppEvent::Cluster(ClusterEvent::Connection(c)) => {
                self.connection = c;
                Vec::new()
            }
            AppEvent::Check {
                lesson,
                step,
                state,
                reason,
                hint,
            } => self.check(lesson, step, state, reason, hint),
            AppEvent::Classroom(ev) => {
                let lessons = self.course.lessons(self.lang);
                let said = self
                    .classroom
                    .get_or_insert_with(Default::default)
                    .apply(ev, self.lang, lessons);
                match said {
                    Some(crate::classroom::Say::Notice(t) | crate::classroom::Say::Line(t)) => {
                        vec![OutLine::plain(t)]
                    }
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        self.after(&mut out);
        out
    }

    fn cluster(&mut self, u: ClusterUpdate) -> Vec<OutLine> {
        let mut out = Vec::new();
        if let ClusterUpdate::Connection(c) = &u {
            self.connection.state = c.into();
            let (key, line) = match c {
                ConnectionState::Connecting => (None, String::new()),
                ConnectionState::Connected => (Some("ok"), self.w.connection_back.to_owned()),
                ConnectionState::Reconnecting { reason } => {
                    (Some("reconnecting"), fill(self.w.reconnecting, &[reason]))
                }
                ConnectionState::Failed { reason } => {
                    (Some("failed"), fill(self.w.connection_failed, &[reason]))
                }
            };
            if let Some(k) = key
                && self.announcer.say(Subject::Connection, k.into()).is_some()
            {
                out.push(OutLine::plain(line));
            }
        }
        self.state.apply(u);
        self.live = true;
        let sandbox = self.connection.context == sandbox::CONTEXT;
        self.facts =
            crate::lesson::adapt::Facts::of(&self.state, sandbox).with_course(self.course.vars());
        out
    }

    /// A checker verdict (or a passed quiz): progress, and the one-line
    /// announcements it is worth.
    fn check(
        &mut self,
        lesson: String,
        step: String,
        state: StepState,
        reason: Option<String>,
        hint: Option<String>,
    ) -> Vec<OutLine> {
        let Some((index, title, is_quiz)) = self
            .course
            .lesson(self.lang, &lesson)
            .and_then(|l| Some((l.step_index(&step)?, l.step(&step)?)))
            .map(|(i, s)| (i, s.title.clone(), quiz(s).is_some()))
        else {
            return Vec::new();
        };
        let current = self.current_lesson().is_some_and(|l| l.id() == lesson);
        let key = (lesson.clone(), step.clone());
        let verdict_subject = Subject::Verdict(lesson.clone(), step.clone());
        let hint_subject = Subject::Hint(lesson.clone(), step.clone());
        let mut out = Vec::new();
        if state == StepState::Done {
            self.verdicts.remove(&key);
            self.announcer.forget(&verdict_subject);
            self.announcer.forget(&hint_subject);
            if !self.progress.mark_done(&lesson, &step) {
                return out;
            }
            self.record_current();
            self.save();
            if current {
                out.push(OutLine::toned(
                    Tone::Done,
                    tidy(fill(self.w.step_done, &[&(index + 1), &title])),
                ));
                out.push(OutLine::plain(self.next_line()));
            }
            return out;
        }
        let v = Verdict {
            state,
            reason: reason.filter(|r| !r.trim().is_empty()),
            hint: hint.filter(|h| !h.trim().is_empty()),
        };
        if self.verdicts.get(&key) == Some(&v) || self.progress.is_done(&lesson, &step) {
            return out;
        }
        self.verdicts.insert(key, v.clone());
        if !current {
            return out;
        }
        // A quiz's verdict repeats what `answer` just said; "reading the
        // cluster…" and "probing…" are followed by what was found. A verdict
        // without a reason (or hint) says nothing, and does not make the
        // last line news again: what was said stays said until the step is
        // done.
        if let (Some(r), false) = (&v.reason, is_quiz)
            && !self.in_progress(r)
        {
            let (template, tone) = match v.state {
                StepState::Failing => (self.w.failing, Tone::Failing),
                _ => (self.w.waiting, Tone::Plain),
            };
            out.extend(
                self.announcer
                    .say(verdict_subject, fill(template, &[&(index + 1), r]))
                    .map(|l| OutLine::toned(tone, l)),
            );
        }
        if let Some(h) = &v.hint {
            out.extend(
                self.announcer
                    .say(hint_subject, fill(self.w.live_hint, &[h]))
                    .map(OutLine::plain),
            );
        }
        out
    }

    /// Whether a reason only says that the checker is still fetching (the
    /// cluster's first lists, a log, a probe).
    fn in_progress(&self, reason: &str) -> bool {
        let w = crate::check::words::words(self.lang);
        let split = |t: String| -> (String, String) {
            match t.split_once('\u{0}') {
                Some((a, b)) => (a.to_owned(), b.to_owned()),
                None => (t, String::new()),
            }
        };
        let (reading, _) = split(fill(w.reading, &[&'\u{0}']));
        let (probing, probing_end) = split(w.say("probing {0}…", &[&'\u{0}']));
        let log = w.say("reading its log…", &[]);
        reason.starts_with(&reading)
            || reason.ends_with(&log)
            || (reason.contains(&probing) && reason.ends_with(&probing_end))
    }

    /// After a step is done: the next one, or the end of the lesson.
    fn next_line(&self) -> String {
        let Some(l) = self.current_lesson() else {
            return String::new();
        };
        match self.active_step() {
            Some(i) => tidy(fill(
                self.w.step_next,
                &[&(i + 1), &l.steps.len(), &l.steps[i].title],
            )),
            None if self.lesson + 1 < self.lessons().len() => {
                fill(self.w.lesson_complete, &[&l.meta.title])
            }
            None => self.w.lesson_complete_last.to_owned(),
        }
    }

    /// The status document `kubetutor status` reads while plain mode runs
    /// (the same as the TUI's).
    pub fn status_doc(&self) -> serde_json::Value {
        let (lessons, current) = self.standing().status();
        let mut doc = serde_json::json!({
            "connection": {
                "context": self.connection.context,
                "kubeconfig": self.connection.kubeconfig,
                "namespace": self.connection.namespace,
                "state": self.connection.state.label(),
            },
            "lab": self.lab_path,
            "lang": self.lang.code(),
            "current": current,
            "lessons": lessons,
            "pid": std::process::id(),
            "ui": "plain",
        });
        if let Some(c) = &self.classroom {
            doc["classroom"] = c.status();
        }
        doc
    }
}

/// A sentence without the period after a title that ends with its own
/// mark ("Why did they vanish?.").
fn tidy(s: String) -> String {
    s.replace("?.", "?").replace("!.", "!")
}

/// Blocks as lines, a blank line between them.
fn blocks_lines(blocks: Vec<render::Block>) -> Vec<OutLine> {
    let mut out = Vec::new();
    for b in blocks {
        if !out.is_empty() {
            out.push(OutLine::plain(""));
        }
        out.extend(b.lines.into_iter().map(OutLine::plain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::ProgressStore;

    fn tutor(lang: Lang) -> (Tutor, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::new(dir.path().join("progress.json"));
        let (saver, _thread) = ProgressSaver::spawn(store).unwrap();
        let course = Course::embedded().unwrap();
        let connection = ConnectionInfo {
            context: sandbox::CONTEXT.into(),
            kubeconfig: None,
            namespace: "kubetutor".into(),
            state: ConnState::Connected,
        };
        let t = Tutor::new(course, lang, Progress::default(), saver, None, connection);
        (t, dir)
    }

    fn verdict(step: &str, state: StepState, reason: Option<&str>, hint: Option<&str>) -> AppEvent {
        AppEvent::Check {
            lesson: "ephemeral-filesystem".into(),
            step: step.into(),
            state,
            reason: reason.map(Into::into),
            hint: hint.map(Into::into),
        }
    }

    fn said(t: &mut Tutor, ev: AppEvent) -> Vec<String> {
        t.event(ev).into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn a_verdict_is_said_once_until_it_changes() {
        let (mut t, _d) = tutor(Lang::En);
        let a = "deployment msg-api: not ready (0/1)";
        assert_eq!(
            said(&mut t, verdict("deploy", StepState::Active, Some(a), None)),
            vec!["Step 1: waiting — deployment msg-api: not ready (0/1)"]
        );
        assert!(said(&mut t, verdict("deploy", StepState::Active, Some(a), None)).is_empty());
        // A verdict without a reason says nothing and makes nothing news.
        assert!(said(&mut t, verdict("deploy", StepState::Active, None, None)).is_empty());
        assert!(said(&mut t, verdict("deploy", StepState::Active, Some(a), None)).is_empty());
        // "Still reading" is not worth a line.
        let reading = fill(crate::check::words::EN.reading, &[&"pods"]);
        assert!(
            said(
                &mut t,
                verdict("deploy", StepState::Active, Some(&reading), None)
            )
            .is_empty()
        );
        assert_eq!(
            said(
                &mut t,
                verdict(
                    "deploy",
                    StepState::Failing,
                    Some("x"),
                    Some("Apply it all.")
                )
            ),
            vec!["Step 1: failing — x", "Hint: Apply it all."]
        );
        assert!(
            said(
                &mut t,
                verdict(
                    "deploy",
                    StepState::Failing,
                    Some("x"),
                    Some("Apply it all.")
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn a_step_done_is_said_with_what_comes_next() {
        let (mut t, _d) = tutor(Lang::Fr);
        assert_eq!(
            said(&mut t, verdict("deploy", StepState::Done, None, None)),
            vec![
                "Étape 1 réussie : Déployer l'API de messagerie.",
                "Ensuite, étape 2 sur 6 : Enregistrer les messages dans un fichier. Tapez étape pour la lire."
            ]
        );
        assert!(said(&mut t, verdict("deploy", StepState::Done, None, None)).is_empty());
        // Verdicts for another lesson are kept, not said.
        let other = AppEvent::Check {
            lesson: "emptydir-shared".into(),
            step: "deploy".into(),
            state: StepState::Active,
            reason: Some("x".into()),
            hint: None,
        };
        assert!(said(&mut t, other).is_empty());
    }

    #[test]
    fn commands_move_through_the_lesson() {
        let (mut t, _d) = tutor(Lang::En);
        let opening: Vec<String> = t.opening(&[]).into_iter().map(|l| l.text).collect();
        assert!(opening[0].starts_with("kubetutor, plain mode."));
        assert!(opening.contains(&"Step 1 of 6, current: Deploy the message API".to_owned()));
        let text = |out: (Vec<OutLine>, Action)| -> String {
            out.0
                .into_iter()
                .map(|l| l.text)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(text(t.command("next")).starts_with("Step 2 of 6, to do: Save the messages"));
        assert!(text(t.command("previous")).starts_with("Code:\n    kubectl logs"));
        assert_eq!(
            t.command("copy").1,
            Action::Copy("kubectl logs deployment/msg-api".into())
        );
        assert!(text(t.command("solution")).starts_with("Show the solution of step 1"));
        // Anything but yes leaves it hidden (and is a command of its own).
        assert!(text(t.command("hint")).starts_with("Hint 1 of 2:"));
        assert!(text(t.command("solution")).starts_with("Show the solution"));
        assert!(text(t.command("y")).starts_with("Solution:\nCode:\n    kubectl apply"));
        assert!(
            t.progress
                .solution_revealed("ephemeral-filesystem", "deploy")
        );
        assert_eq!(t.command("shell").1, Action::Shell);
        assert_eq!(t.command("quitter").1, Action::Quit);
        assert!(text(t.command("lesson 2")).starts_with("Lesson 2 of 10:"));
        assert_eq!(
            t.progress.current.as_ref().unwrap().lesson,
            "emptydir-shared"
        );
    }
}
