//! The UI state and its one entry point, `App::update`.
//!
//! `App` is owned by the UI task alone; producers send `AppEvent`s. `update`
//! never does I/O: progress goes to the non-blocking `ProgressSaver`, and a
//! clipboard copy is left in `take_copy_request` for the loop to write.

use super::event::{AppEvent, ClusterEvent, ClusterView, ConnectionInfo};
use super::page::{self, Page, StepView};
use super::strings::{Strings, fill, strings};
use super::theme::Theme;
use crate::check::engine::{CheckerHandle, Highlights};
use crate::cluster::{ClusterState, ClusterUpdate};
use crate::course::Course;
use crate::lesson::{Lang, Lesson};
use crate::progress::{Current, Progress, ProgressSaver, StepState};
use crate::standing::{Standing, Verdict, Verdicts};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::collections::HashMap;
use std::time::Instant;

mod shell;
pub use shell::{ShellPane, ShellSetup, is_leave_chord};

/// Whether the screen must be drawn again.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redraw {
    Yes,
    No,
}

impl Redraw {
    pub fn needed(self) -> bool {
        self == Redraw::Yes
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Instructions,
    Steps,
    Cluster,
    /// The shell pane: not in the Tab cycle (Tab belongs to the shell);
    /// `t`, a click or the leave chord enter it, the chord leaves it.
    Shell,
}

impl Pane {
    const ORDER: [Pane; 3] = [Pane::Instructions, Pane::Steps, Pane::Cluster];

    fn next(self, back: bool) -> Pane {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        let n = Self::ORDER.len();
        Self::ORDER[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Lessons {
        selected: usize,
    },
    ConfirmSolution {
        step: usize,
    },
    /// Something the learner must read before going on (a progress file
    /// that was moved aside...): any key closes it.
    Notice {
        text: String,
    },
    /// Answering the quiz of a step: which choices are picked, where the
    /// cursor is, whether the last answer was wrong.
    Quiz {
        step: usize,
        picked: Vec<bool>,
        cursor: usize,
        wrong: bool,
    },
}

/// Where things were drawn last time, for mouse hits and paging. Written by
/// `ui::draw`.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub instructions: Rect,
    pub steps: Rect,
    pub cluster: Rect,
    /// Screen row of each line of the steps pane → step index.
    pub step_rows: Vec<(u16, usize)>,
    /// Screen row of each lesson of the lesson list → lesson index.
    pub lesson_rows: Vec<(u16, usize)>,
    /// Only the focused pane is shown (small terminals); Tab switches.
    pub single_pane: bool,
    /// How far the lineage in the cluster pane can scroll (0: it fits).
    pub lineage_max: usize,
    /// The shell pane's terminal area (empty: not shown).
    pub shell: Rect,
    /// The terminal has room to show the shell pane beside the lesson
    /// (else it takes the whole window while it has the focus).
    pub shell_room: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PageKey {
    lesson: usize,
    width: u16,
    focus: Option<usize>,
    revision: u64,
    theme: Theme,
}

pub struct App {
    course: Course,
    lang: Lang,
    pub(crate) theme: Theme,
    progress: Progress,
    saver: ProgressSaver,
    pub(crate) lesson: usize,
    pub(crate) scroll: u16,
    pub(crate) focus: Pane,
    pub(crate) step_sel: usize,
    pub(crate) cluster_scroll: u16,
    pub(crate) overlay: Option<Overlay>,
    pub(crate) code_focus: Option<usize>,
    verdicts: Verdicts,
    pub(crate) connection: ConnectionInfo,
    pub(crate) cluster: Option<(ClusterView, Instant)>,
    /// The live snapshot of the course namespace, from the session's
    /// watchers; `live` once the first update arrived.
    pub(crate) state: ClusterState,
    pub(crate) live: bool,
    pub(crate) highlights: Highlights,
    /// The selected pod of the cluster pane (index among the namespace's
    /// pods), whose storage lineage is shown when the pane is focused.
    pub(crate) pod_sel: usize,
    /// First line of the selected pod's lineage shown (when it is taller
    /// than the pane): J/K, PgUp/PgDn.
    pub(crate) lineage_scroll: usize,
    /// The wall clock ages are computed from; `None`: now (tests fix it).
    pub(crate) wall: Option<jiff::Timestamp>,
    /// Where the checker is told about the active step and quiz answers.
    checker: Option<CheckerHandle>,
    /// The (lesson, step) the checker was last told to check.
    checking: Option<(String, String)>,
    pub(crate) now: Instant,
    pub(crate) message: Option<String>,
    quit: bool,
    copy_request: Option<String>,
    /// Bumped whenever the page content changes (markers, hints...).
    revision: u64,
    pub(crate) view: View,
    page: Option<(PageKey, Page)>,
    /// Lesson, width and anchors of the page as last drawn.
    pub(crate) drawn: Option<(usize, u16, Vec<usize>)>,
    /// The lab directory the lessons' commands run from, as shown, and its
    /// full path.
    pub(crate) lab: Option<String>,
    lab_path: Option<std::path::PathBuf>,
    /// Notices still to show, after the one on screen.
    notices: std::collections::VecDeque<String>,
    /// What the lessons' text adapts to (binding mode, nodes, sandbox).
    facts: crate::lesson::adapt::Facts,
    /// The shell pane (see `app::shell`).
    pub(crate) shell: ShellPane,
    /// The classroom joined, if any: its hold and connection.
    classroom: Option<crate::classroom::ClassroomState>,
}

impl App {
    /// `start`: a lesson id to open; otherwise the one in `progress.current`,
    /// otherwise the first lesson.
    pub fn new(
        course: Course,
        lang: Lang,
        progress: Progress,
        saver: ProgressSaver,
        start: Option<&str>,
        connection: ConnectionInfo,
        theme: Theme,
    ) -> App {
        let lessons = course.lessons(lang);
        let by_id = |id: &str| lessons.iter().position(|l| l.id() == id);
        let resume = progress.current.clone();
        let shared_course_vars = course.vars().clone();
        let (lesson, scroll) = match (start.and_then(by_id), &resume) {
            (Some(i), Some(c)) if lessons.get(i).is_some_and(|l| l.id() == c.lesson) => {
                (i, c.scroll)
            }
            (Some(i), _) => (i, 0),
            (None, Some(c)) => by_id(&c.lesson).map_or((0, 0), |i| (i, c.scroll)),
            (None, None) => (0, 0),
        };
        let mut app = App {
            course,
            lang,
            theme,
            progress,
            saver,
            lesson,
            scroll,
            focus: Pane::Instructions,
            step_sel: 0,
            cluster_scroll: 0,
            overlay: None,
            code_focus: None,
            verdicts: HashMap::new(),
            connection: connection.clone(),
            cluster: None,
            state: ClusterState::new(connection.namespace.clone()),
            live: false,
            highlights: Highlights::default(),
            pod_sel: 0,
            lineage_scroll: 0,
            wall: None,
            checker: None,
            checking: None,
            now: Instant::now(),
            message: None,
            quit: false,
            copy_request: None,
            revision: 0,
            view: View::default(),
            page: None,
            drawn: None,
            lab: None,
            lab_path: None,
            notices: Default::default(),
            facts: crate::lesson::adapt::Facts::for_course(&shared_course_vars),
            classroom: None,
            shell: ShellPane::default(),
        };
        app.step_sel = app.active_step().unwrap_or(0);
        if let (Some(c), Some(l)) = (&resume, app.current_lesson())
            && c.lesson == l.id()
            && let Some(i) = c.step.as_deref().and_then(|s| l.step_index(s))
        {
            app.step_sel = i;
        }
        app.record_current();
        app
    }

    /// Let the app tell the checker which step is active and pass on quiz
    /// answers. The active step is sent at once.
    pub fn set_checker(&mut self, checker: CheckerHandle) {
        checker.lang(self.lang);
        self.checker = Some(checker);
        self.checking = None;
        self.sync_checker();
    }

    /// The lab directory (where the course's manifests were written): named
    /// at the top of every lesson and in the help.
    pub fn set_lab_dir(&mut self, dir: &std::path::Path) {
        self.lab = Some(crate::paths::display_path(dir));
        self.lab_path = Some(dir.to_path_buf());
        self.revision += 1;
    }

    /// Show a notice the learner dismisses with any key (several are shown
    /// one after the other).
    pub fn notify(&mut self, text: impl Into<String>) {
        let text = text.into();
        match &self.overlay {
            None => self.overlay = Some(Overlay::Notice { text }),
            Some(_) => self.notices.push_back(text),
        }
    }

    /// Compute ages from this time instead of now (snapshot tests).
    pub fn set_wall_clock(&mut self, at: jiff::Timestamp) {
        self.wall = Some(at);
    }

    /// The live snapshot the cluster pane draws.
    pub fn cluster_state(&self) -> &ClusterState {
        &self.state
    }

    /// The sandbox's kubeconfig, which the learner's shell must export (a
    /// real cluster's is already the learner's own).
    fn sandbox_kubeconfig(&self) -> Option<String> {
        if self.connection.context != sandbox::CONTEXT {
            return None;
        }
        let path = self.connection.kubeconfig.as_ref()?;
        Some(path.to_string_lossy().into_owned())
    }

    /// The connection as the status bar shows it.
    pub fn connection(&self) -> &ConnectionInfo {
        &self.connection
    }

    /// Tells the checker about the active step when it changed: the first
    /// open step of the open lesson, or nothing once the lesson is done.
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

    /// The status document `kubetutor status --json` prints while the UI
    /// runs (see `run::StatusWriter`).
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
            "shell": self.shell_status(),
            "lang": self.lang.code(),
            "current": current,
            "lessons": lessons,
            "pid": std::process::id(),
        });
        if let Some(c) = &self.classroom {
            doc["classroom"] = c.status();
        }
        doc
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The UI's words in the course language.
    pub fn strings(&self) -> &'static Strings {
        strings(self.lang)
    }

    /// Why the last progress write failed, if it did.
    pub fn save_error(&self) -> Option<String> {
        self.saver.last_error()
    }

    /// First line of the instructions shown at the top of the pane.
    pub fn scroll(&self) -> u16 {
        self.scroll
    }

    pub fn focus(&self) -> Pane {
        self.focus
    }

    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    /// The highlighted code block of the instructions (index in the page).
    pub fn code_focus(&self) -> Option<usize> {
        self.code_focus
    }

    /// The selected step of the steps pane.
    pub fn selected_step(&self) -> usize {
        self.step_sel
    }

    /// The one-line message shown in the status bar until the next key.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Index of the open lesson in `lessons()`.
    pub fn lesson_index(&self) -> usize {
        self.lesson
    }

    pub fn lessons(&self) -> &[Lesson] {
        self.course.lessons(self.lang)
    }

    pub fn current_lesson(&self) -> Option<&Lesson> {
        self.lessons().get(self.lesson)
    }

    /// Text to put on the clipboard (OSC 52), taken by the event loop.
    pub fn take_copy_request(&mut self) -> Option<String> {
        self.copy_request.take()
    }

    /// Whether something on screen shows a clock ("updated 3s ago"), i.e.
    /// whether the loop must send `AppEvent::Tick` every second.
    pub fn wants_tick(&self) -> bool {
        (self.cluster.is_some() || self.live) && !self.view.cluster.is_empty()
    }

    /// Pods of the course namespace (the rows j/k move over).
    pub fn pod_count(&self) -> usize {
        let ns = self.state.namespace.as_str();
        self.state
            .pods()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .count()
    }

    /// The selected pod row of the cluster pane.
    pub fn selected_pod(&self) -> usize {
        self.pod_sel
    }

    /// Where the learner stands (the rules shared with plain mode).
    pub fn standing(&self) -> Standing<'_> {
        Standing {
            lessons: self.lessons(),
            lesson: self.lesson,
            progress: &self.progress,
            verdicts: &self.verdicts,
        }
    }

    /// The state shown for a step.
    pub fn step_state(&self, lesson: &Lesson, index: usize) -> StepState {
        self.standing().step_state(lesson, index)
    }

    /// What the checker last said about a step that is not done.
    pub fn step_reason(&self, lesson: &Lesson, index: usize) -> Option<&str> {
        self.standing().step_reason(lesson, index)
    }

    /// The live hint the checker shows for a step that is not done.
    pub fn step_hint(&self, lesson: &Lesson, index: usize) -> Option<&str> {
        self.standing().step_hint(lesson, index)
    }

    /// Whether the active step is a question to answer with `a`.
    pub fn active_is_quiz(&self) -> bool {
        self.active_step()
            .and_then(|i| self.current_lesson()?.steps.get(i))
            .and_then(page::quiz)
            .is_some()
    }

    /// The first step of the open lesson that is not done.
    pub fn active_step(&self) -> Option<usize> {
        self.standing().active_step()
    }

    fn step_views(&self, lesson: &Lesson) -> Vec<StepView> {
        (0..lesson.steps.len())
            .map(|i| StepView {
                state: self.step_state(lesson, i),
                hints: self
                    .progress
                    .hints_revealed(lesson.id(), &lesson.steps[i].id),
                solution: self
                    .progress
                    .solution_revealed(lesson.id(), &lesson.steps[i].id),
            })
            .collect()
    }

    /// The instructions page at `width`, rendered once and cached.
    pub fn page(&mut self, width: u16) -> &Page {
        let key = PageKey {
            lesson: self.lesson,
            width,
            focus: self.code_focus,
            revision: self.revision,
            theme: self.theme,
        };
        let fresh = matches!(&self.page, Some((k, _)) if *k == key);
        if !fresh {
            let page = match self.current_lesson() {
                Some(l) => page::build(
                    l,
                    &self.step_views(l),
                    &page::PageEnv {
                        width,
                        theme: self.theme,
                        focused_code: self.code_focus,
                        strings: strings(self.lang),
                        lab: self.lab.as_deref(),
                        kubeconfig: self.sandbox_kubeconfig(),
                        facts: &self.facts,
                        shell: self.shell.setup.target.as_ref().map(|_| page::ShellHeader {
                            pane: self.shell.enabled(),
                            command: self.shell.setup.command.clone(),
                        }),
                    },
                ),
                None => Page::default(),
            };
            self.page = Some((key, page));
        }
        match &self.page {
            Some((_, p)) => p,
            None => unreachable_page(),
        }
    }

    fn page_width(&self) -> u16 {
        match self.view.instructions.width {
            0 => 80,
            w => w,
        }
    }

    fn viewport(&self) -> u16 {
        self.view.instructions.height.max(1)
    }

    fn max_scroll(&mut self) -> u16 {
        let w = self.page_width();
        let vp = self.viewport();
        let len = self.page(w).doc.lines.len();
        u16::try_from(len.saturating_sub(usize::from(vp))).unwrap_or(u16::MAX)
    }

    /// Scrolls the instructions so that `line` is visible (at the top if it
    /// was not).
    fn reveal_line(&mut self, line: usize) {
        let top = usize::from(self.scroll);
        let vp = usize::from(self.viewport());
        if line < top || line >= top + vp {
            self.scroll = u16::try_from(line).unwrap_or(u16::MAX);
        }
        self.scroll = self.scroll.min(self.max_scroll());
    }

    fn save(&self) {
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
        self.progress.lang = Some(self.lang);
        self.progress.current = Some(Current {
            lesson,
            step,
            scroll: self.scroll,
        });
    }

    pub fn update(&mut self, ev: AppEvent) -> Redraw {
        let r = self.handle(ev);
        self.sync_checker();
        r
    }

    fn handle(&mut self, ev: AppEvent) -> Redraw {
        match ev {
            AppEvent::Key(k) => self.key(k),
            AppEvent::Mouse(m) => self.mouse(m),
            AppEvent::Paste(p) => self.shell_paste(p),
            AppEvent::Shell(ev) => self.shell_event(ev),
            AppEvent::Resize(..) => Redraw::Yes,
            AppEvent::Tick => {
                self.now = Instant::now();
                if self.wants_tick() {
                    Redraw::Yes
                } else {
                    Redraw::No
                }
            }
            AppEvent::Quit => {
                self.quit_now();
                Redraw::No
            }
            AppEvent::Cluster(ClusterEvent::Connection(c)) => {
                if c.kubeconfig != self.connection.kubeconfig
                    || c.context != self.connection.context
                {
                    // The page's opening block names the sandbox's kubeconfig.
                    self.revision += 1;
                }
                self.connection = c;
                Redraw::Yes
            }
            AppEvent::Cluster(ClusterEvent::View(v)) => {
                self.now = Instant::now();
                self.cluster = Some((v, self.now));
                Redraw::Yes
            }
            AppEvent::Cluster(ClusterEvent::Update(u)) => {
                self.now = Instant::now();
                if let ClusterUpdate::Connection(c) = &u {
                    self.connection.state = c.into();
                }
                self.state.apply_at(u, self.now);
                self.live = true;
                let sandbox = self.connection.context == sandbox::CONTEXT;
                let facts = crate::lesson::adapt::Facts::of(&self.state, sandbox)
                    .with_course(self.course.vars());
                if facts != self.facts {
                    // The lesson text adapts: rebuild the page.
                    self.facts = facts;
                    self.revision += 1;
                }
                let n = self.pod_count();
                if self.pod_sel >= n {
                    self.pod_sel = n.saturating_sub(1);
                }
                Redraw::Yes
            }
            AppEvent::Cluster(ClusterEvent::Highlights(h)) => {
                if h == self.highlights {
                    return Redraw::No;
                }
                self.highlights = h;
                Redraw::Yes
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
                    Some(crate::classroom::Say::Notice(t)) => self.notify(t),
                    Some(crate::classroom::Say::Line(t)) => self.message = Some(t),
                    None => return Redraw::No,
                }
                Redraw::Yes
            }
        }
    }

    fn quit_now(&mut self) {
        self.record_current();
        self.save();
        self.quit = true;
    }

    fn check(
        &mut self,
        lesson: String,
        step: String,
        state: StepState,
        reason: Option<String>,
        hint: Option<String>,
    ) -> Redraw {
        let known = self
            .course
            .lesson(self.lang, &lesson)
            .is_some_and(|l| l.step(&step).is_some());
        if !known {
            return Redraw::No;
        }
        let key = (lesson.clone(), step.clone());
        let before = self.verdicts.get(&key).cloned();
        let was_done = self.progress.is_done(&lesson, &step);
        if state == StepState::Done {
            self.verdicts.remove(&key);
            if !was_done {
                self.progress.mark_done(&lesson, &step);
                let current = self.current_lesson().is_some_and(|l| l.id() == lesson);
                if current {
                    self.message = Some(match self.active_step() {
                        None => self.strings().msg_lesson_complete.into(),
                        Some(_) => {
                            let title = self
                                .course
                                .lesson(self.lang, &lesson)
                                .and_then(|l| l.step(&step))
                                .map_or(String::new(), |s| s.title.clone());
                            fill(self.strings().msg_step_done, &[&title])
                        }
                    });
                    if let Some(i) = self.active_step() {
                        self.step_sel = i;
                    }
                }
                self.record_current();
                self.save();
            }
        } else {
            let v = Verdict {
                state,
                reason,
                hint,
            };
            if before.as_ref() == Some(&v) {
                return Redraw::No;
            }
            self.verdicts.insert(key, v);
        }
        // Markers change width never, so the scroll offset stays valid.
        self.revision += 1;
        Redraw::Yes
    }

    fn key(&mut self, mut k: KeyEvent) -> Redraw {
        // The shell pane takes every key but its leave chord (Ctrl-C too:
        // it interrupts the shell's command, not the course).
        if self.focus == Pane::Shell && self.overlay.is_none() {
            return self.shell_key(k);
        }
        if is_leave_chord(&k) && self.overlay.is_none() {
            self.message = None;
            let _ = self.open_shell(true);
            return Redraw::Yes;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('q')) {
            self.quit_now();
            return Redraw::No;
        }
        let had_message = self.message.take().is_some();
        let mut closed = false;
        // Esc followed quickly by a key reads as Alt+key: with a dialog
        // open, that is "close it, then the key". Without one the Esc part
        // is dropped rather than quitting.
        if k.modifiers.contains(KeyModifiers::ALT) && matches!(k.code, KeyCode::Char(_)) {
            k.modifiers.remove(KeyModifiers::ALT);
            closed = self.overlay.take().is_some();
        }
        let r = match self.overlay.clone() {
            Some(o) => self.overlay_key(o, k),
            None => self.main_key(k),
        };
        if had_message || closed {
            Redraw::Yes
        } else {
            r
        }
    }

    fn overlay_key(&mut self, o: Overlay, k: KeyEvent) -> Redraw {
        match (o, k.code) {
            // Any key closes a notice (and shows the next one).
            (Overlay::Notice { .. }, _) => {
                self.overlay = self
                    .notices
                    .pop_front()
                    .map(|text| Overlay::Notice { text });
            }
            // `q` quits from anywhere but a quiz, where letters are answers.
            (
                Overlay::Help | Overlay::Lessons { .. } | Overlay::ConfirmSolution { .. },
                KeyCode::Char('q'),
            ) => {
                self.quit_now();
                return Redraw::No;
            }
            (_, KeyCode::Esc) | (Overlay::Help, KeyCode::Char('?')) => {
                self.overlay = None;
            }
            (Overlay::Lessons { .. }, KeyCode::Char('l')) => self.overlay = None,
            (Overlay::Help, _) => return Redraw::No,
            (Overlay::Lessons { selected }, code) => {
                let n = self.lessons().len();
                let sel = match code {
                    KeyCode::Up | KeyCode::Char('k') => selected.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => (selected + 1).min(n.saturating_sub(1)),
                    KeyCode::Home | KeyCode::Char('g') => 0,
                    KeyCode::End | KeyCode::Char('G') => n.saturating_sub(1),
                    KeyCode::Enter => {
                        self.overlay = None;
                        self.open_lesson(selected);
                        return Redraw::Yes;
                    }
                    _ => return Redraw::No,
                };
                self.overlay = Some(Overlay::Lessons { selected: sel });
            }
            (Overlay::ConfirmSolution { step }, KeyCode::Char('y' | 'Y') | KeyCode::Enter) => {
                self.overlay = None;
                self.reveal_solution(step);
            }
            (Overlay::ConfirmSolution { .. }, KeyCode::Char('n' | 'N')) => {
                self.overlay = None;
            }
            (Overlay::ConfirmSolution { .. }, _) => return Redraw::No,
            (
                Overlay::Quiz {
                    step,
                    mut picked,
                    mut cursor,
                    ..
                },
                code,
            ) => {
                let Some(q) = self
                    .current_lesson()
                    .and_then(|l| l.steps.get(step))
                    .and_then(page::quiz)
                else {
                    self.overlay = None;
                    return Redraw::Yes;
                };
                let n = picked.len();
                let single = q.answers.len() == 1;
                let toggle = |picked: &mut Vec<bool>, i: usize| {
                    if single {
                        let was = picked[i];
                        picked.iter_mut().for_each(|p| *p = false);
                        picked[i] = !was;
                    } else {
                        picked[i] = !picked[i];
                    }
                };
                match code {
                    KeyCode::Up => cursor = cursor.saturating_sub(1),
                    KeyCode::Down => cursor = (cursor + 1).min(n.saturating_sub(1)),
                    KeyCode::Char(' ') if cursor < n => toggle(&mut picked, cursor),
                    KeyCode::Char(c @ 'a'..='z') => {
                        let i = usize::from(c as u8 - b'a');
                        if i >= n {
                            return Redraw::No;
                        }
                        cursor = i;
                        toggle(&mut picked, i);
                    }
                    KeyCode::Enter => {
                        if single && !picked.iter().any(|p| *p) && cursor < n {
                            picked[cursor] = true;
                        }
                        let chosen: Vec<usize> = (0..n).filter(|i| picked[*i]).collect();
                        if let (Some(c), Some(s)) = (
                            &self.checker,
                            self.current_lesson().and_then(|l| l.steps.get(step)),
                        ) {
                            c.answer(&s.id, chosen.clone());
                        }
                        let mut right = q.answers.clone();
                        right.sort_unstable();
                        if chosen == right {
                            self.overlay = None;
                            self.quiz_passed(step);
                            return Redraw::Yes;
                        }
                        self.overlay = Some(Overlay::Quiz {
                            step,
                            picked,
                            cursor,
                            wrong: true,
                        });
                        return Redraw::Yes;
                    }
                    _ => return Redraw::No,
                }
                self.overlay = Some(Overlay::Quiz {
                    step,
                    picked,
                    cursor,
                    wrong: false,
                });
            }
        }
        Redraw::Yes
    }

    fn main_key(&mut self, k: KeyEvent) -> Redraw {
        let shift = k.modifiers.contains(KeyModifiers::SHIFT);
        match k.code {
            KeyCode::Char('q') => {
                self.quit_now();
                return Redraw::No;
            }
            // Esc only closes dialogs: a second Esc must not end the course.
            KeyCode::Esc => self.message = Some(self.strings().msg_esc.into()),
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help),
            KeyCode::Tab if !shift => self.focus = self.focus.next(false),
            KeyCode::BackTab | KeyCode::Tab => self.focus = self.focus.next(true),
            KeyCode::Up | KeyCode::Char('k') => return self.scroll_by(-1),
            KeyCode::Down | KeyCode::Char('j') => return self.scroll_by(1),
            // In the live cluster pane, j/k pick a pod; J/K and the page
            // keys scroll its lineage.
            KeyCode::Char('K') if self.lineage_keys() => return self.scroll_lineage(-1),
            KeyCode::Char('J') if self.lineage_keys() => return self.scroll_lineage(1),
            KeyCode::PageUp if self.lineage_keys() => {
                return self.scroll_lineage(-self.page_step());
            }
            KeyCode::PageDown | KeyCode::Char(' ') if self.lineage_keys() => {
                return self.scroll_lineage(self.page_step());
            }
            KeyCode::PageUp => return self.scroll_by(-self.page_step()),
            KeyCode::PageDown | KeyCode::Char(' ') => return self.scroll_by(self.page_step()),
            KeyCode::Home | KeyCode::Char('g') => return self.scroll_by(-i32::from(u16::MAX)),
            KeyCode::End | KeyCode::Char('G') => return self.scroll_by(i32::from(u16::MAX)),
            KeyCode::Enter if self.focus == Pane::Steps => {
                let w = self.page_width();
                let sel = self.step_sel;
                if let Some(&line) = self.page(w).step_lines.get(sel) {
                    self.scroll = u16::try_from(line).unwrap_or(u16::MAX);
                    self.scroll = self.scroll.min(self.max_scroll());
                }
            }
            KeyCode::Char('h') => self.reveal_hint(),
            KeyCode::Char('s') => self.ask_solution(),
            KeyCode::Char('a') => self.open_quiz(),
            KeyCode::Char('y') => self.copy(),
            KeyCode::Char('t') => {
                let _ = self.open_shell(true);
            }
            KeyCode::Char('T') => self.hide_shell(),
            KeyCode::Char('i') => self.code_to_shell(false),
            KeyCode::Char('r') => self.code_to_shell(true),
            KeyCode::Char(']') => self.move_code_focus(true),
            KeyCode::Char('[') => self.move_code_focus(false),
            KeyCode::Char('l') => {
                self.overlay = Some(Overlay::Lessons {
                    selected: self.lesson,
                })
            }
            KeyCode::Char('n') => {
                if self.lesson + 1 < self.lessons().len() {
                    self.open_lesson(self.lesson + 1);
                } else {
                    self.message = Some(self.strings().msg_last_lesson.into());
                }
            }
            KeyCode::Char('p') => {
                if self.lesson > 0 {
                    self.open_lesson(self.lesson - 1);
                } else {
                    self.message = Some(self.strings().msg_first_lesson.into());
                }
            }
            _ => return Redraw::No,
        }
        Redraw::Yes
    }

    /// Whether J/K and the page keys scroll the selected pod's lineage.
    fn lineage_keys(&self) -> bool {
        self.focus == Pane::Cluster && self.live
    }

    fn scroll_lineage(&mut self, delta: i32) -> Redraw {
        let max = i64::try_from(self.view.lineage_max).unwrap_or(0);
        let cur = i64::try_from(self.lineage_scroll).unwrap_or(0);
        let new = usize::try_from((cur + i64::from(delta)).clamp(0, max)).unwrap_or(0);
        if new == self.lineage_scroll {
            return Redraw::No;
        }
        self.lineage_scroll = new;
        Redraw::Yes
    }

    fn page_step(&self) -> i32 {
        let h = match self.focus {
            Pane::Instructions => self.view.instructions.height,
            Pane::Steps => self.view.steps.height,
            Pane::Cluster => self.view.cluster.height,
            Pane::Shell => self.view.shell.height,
        };
        i32::from(h.saturating_sub(1).max(1))
    }

    fn scroll_by(&mut self, delta: i32) -> Redraw {
        self.scroll_pane(self.focus, delta)
    }

    fn scroll_pane(&mut self, pane: Pane, delta: i32) -> Redraw {
        if pane == Pane::Shell {
            return self.scroll_shell(delta);
        }
        let add = |v: i64, max: i64| (v + i64::from(delta)).clamp(0, max.max(0));
        match pane {
            Pane::Instructions => {
                let max = i64::from(self.max_scroll());
                let new = add(i64::from(self.scroll), max);
                let new = u16::try_from(new).unwrap_or(u16::MAX);
                if new == self.scroll {
                    return Redraw::No;
                }
                self.scroll = new;
            }
            Pane::Steps => {
                let n = self.current_lesson().map_or(0, |l| l.steps.len());
                let max = i64::try_from(n.saturating_sub(1)).unwrap_or(0);
                let new = add(i64::try_from(self.step_sel).unwrap_or(0), max);
                let new = usize::try_from(new).unwrap_or(0);
                if new == self.step_sel {
                    return Redraw::No;
                }
                self.step_sel = new;
            }
            Pane::Cluster if self.live => {
                let n = self.pod_count();
                let max = i64::try_from(n.saturating_sub(1)).unwrap_or(0);
                let new = add(i64::try_from(self.pod_sel).unwrap_or(0), max);
                let new = usize::try_from(new).unwrap_or(0);
                if new == self.pod_sel {
                    return Redraw::No;
                }
                self.pod_sel = new;
                self.lineage_scroll = 0;
            }
            Pane::Cluster => {
                let n = self.cluster_lines();
                let vp = usize::from(self.view.cluster.height);
                let max = i64::try_from(n.saturating_sub(vp)).unwrap_or(0);
                let new = add(i64::from(self.cluster_scroll), max);
                let new = u16::try_from(new).unwrap_or(u16::MAX);
                if new == self.cluster_scroll {
                    return Redraw::No;
                }
                self.cluster_scroll = new;
            }
            Pane::Shell => return Redraw::No,
        }
        Redraw::Yes
    }

    fn cluster_lines(&self) -> usize {
        self.cluster.as_ref().map_or(0, |(v, _)| v.lines.len())
    }

    fn open_lesson(&mut self, index: usize) {
        if index >= self.lessons().len() {
            return;
        }
        // A classroom hold stops the learner at its lesson.
        if let Some(Err(why)) = self
            .classroom
            .as_ref()
            .map(|c| c.allows(self.lessons(), self.lesson, index, self.lang))
        {
            self.message = Some(why);
            return;
        }
        if index != self.lesson {
            self.lesson = index;
            self.scroll = 0;
            self.code_focus = None;
            self.cluster_scroll = 0;
        }
        self.step_sel = self.active_step().unwrap_or(0);
        self.record_current();
        self.save();
    }

    fn reveal_hint(&mut self) {
        let Some(l) = self.current_lesson() else {
            return;
        };
        let Some(i) = self.active_step() else {
            self.message = Some(self.strings().msg_all_done.into());
            return;
        };
        let (lid, step) = (l.id().to_owned(), &l.steps[i]);
        let (sid, total) = (step.id.clone(), step.hints.len());
        let shown = self.progress.hints_revealed(&lid, &sid) as usize;
        if total == 0 {
            self.message = Some(self.strings().msg_no_hints.into());
            return;
        }
        if shown >= total {
            self.message = Some(self.strings().msg_no_more_hints.into());
            return;
        }
        let n = self
            .progress
            .reveal_hint(&lid, &sid, u32::try_from(total).unwrap_or(u32::MAX))
            as usize;
        self.revision += 1;
        self.record_current();
        self.save();
        self.message = Some(fill(self.strings().msg_hint_revealed, &[&n, &total]));
        let w = self.page_width();
        let line = self
            .page(w)
            .hint_lines
            .get(i)
            .and_then(|h| h.get(n.saturating_sub(1)))
            .copied();
        if let Some(line) = line {
            self.reveal_line(line);
        }
    }

    fn open_quiz(&mut self) {
        let quiz = self
            .active_step()
            .and_then(|i| Some((i, self.current_lesson()?.steps.get(i)?)))
            .and_then(|(i, s)| Some((i, page::quiz(s)?)));
        match quiz {
            Some((step, q)) => {
                self.overlay = Some(Overlay::Quiz {
                    step,
                    picked: vec![false; q.choices.len()],
                    cursor: 0,
                    wrong: false,
                });
            }
            None => self.message = Some(self.strings().msg_not_a_quiz.into()),
        }
    }

    /// A quiz has no cluster state to watch: the UI marks it done itself.
    fn quiz_passed(&mut self, step: usize) {
        let Some(l) = self.current_lesson() else {
            return;
        };
        let Some(s) = l.steps.get(step) else { return };
        let (lid, sid) = (l.id().to_owned(), s.id.clone());
        let _ = self.update(AppEvent::Check {
            lesson: lid,
            step: sid,
            state: StepState::Done,
            reason: None,
            hint: None,
        });
        if self.active_step().is_some() {
            self.message = Some(self.strings().quiz_right.into());
        }
    }

    fn ask_solution(&mut self) {
        let Some(l) = self.current_lesson() else {
            return;
        };
        let Some(i) = self.active_step() else {
            self.message = Some(self.strings().msg_all_done.into());
            return;
        };
        if l.steps[i].solution.is_none() {
            self.message = Some(self.strings().msg_no_solution.into());
            return;
        }
        if self.progress.solution_revealed(l.id(), &l.steps[i].id) {
            self.scroll_to_solution(i);
            return;
        }
        self.overlay = Some(Overlay::ConfirmSolution { step: i });
    }

    fn reveal_solution(&mut self, step: usize) {
        let Some(l) = self.current_lesson() else {
            return;
        };
        let Some(s) = l.steps.get(step) else { return };
        let (lid, sid) = (l.id().to_owned(), s.id.clone());
        self.progress.reveal_solution(&lid, &sid);
        self.revision += 1;
        self.record_current();
        self.save();
        self.scroll_to_solution(step);
    }

    fn scroll_to_solution(&mut self, step: usize) {
        let w = self.page_width();
        let line = self.page(w).solution_lines.get(step).copied().flatten();
        if let Some(line) = line {
            self.reveal_line(line);
        }
    }

    fn move_code_focus(&mut self, forward: bool) {
        let w = self.page_width();
        let top = usize::from(self.scroll);
        let bottom = top + usize::from(self.viewport());
        let focus = self.code_focus;
        let blocks: Vec<(usize, usize)> = self
            .page(w)
            .doc
            .code_blocks
            .iter()
            .map(|b| (b.start, b.end))
            .collect();
        if blocks.is_empty() {
            self.message = Some(self.strings().msg_no_code.into());
            return;
        }
        let next = match (focus, forward) {
            (Some(i), true) => (i + 1).min(blocks.len() - 1),
            (Some(i), false) => i.saturating_sub(1),
            // Start from what is on screen.
            (None, true) => blocks
                .iter()
                .position(|(s, _)| *s >= top)
                .unwrap_or(blocks.len() - 1),
            (None, false) => blocks.iter().rposition(|(s, _)| *s < bottom).unwrap_or(0),
        };
        self.code_focus = Some(next);
        let (start, end) = blocks[next];
        let vp = usize::from(self.viewport());
        if start < top || end > bottom {
            let want = if end - start > vp || start < top {
                start
            } else {
                end.saturating_sub(vp)
            };
            self.scroll = u16::try_from(want).unwrap_or(u16::MAX);
            self.scroll = self.scroll.min(self.max_scroll());
        }
    }

    fn copy(&mut self) {
        let w = self.page_width();
        let Some(i) = self.code_focus else {
            self.move_code_focus(true);
            if self.code_focus.is_some() {
                self.message = Some(self.strings().msg_copy_again.into());
            }
            return;
        };
        let text = self.page(w).doc.code_blocks.get(i).map(|b| b.copy.clone());
        if let Some(text) = text {
            let n = text.lines().count();
            self.message = Some(fill(self.strings().msg_copied, &[&n]));
            self.copy_request = Some(text);
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Redraw {
        if let Some(Overlay::Lessons { .. }) = self.overlay {
            // A click opens a lesson; the wheel moves the selection.
            let hit = self.view.lesson_rows.iter().find(|(y, _)| *y == m.row);
            let n = self.lessons().len();
            match (m.kind, hit) {
                (MouseEventKind::Down(MouseButton::Left), Some(&(_, i))) => {
                    self.overlay = None;
                    self.open_lesson(i);
                    return Redraw::Yes;
                }
                (MouseEventKind::ScrollUp | MouseEventKind::ScrollDown, _) => {
                    if let Some(Overlay::Lessons { selected }) = &mut self.overlay {
                        *selected = if m.kind == MouseEventKind::ScrollUp {
                            selected.saturating_sub(1)
                        } else {
                            (*selected + 1).min(n.saturating_sub(1))
                        };
                    }
                    return Redraw::Yes;
                }
                _ => return Redraw::No,
            }
        }
        if self.overlay.is_some() {
            return Redraw::No;
        }
        let pos = Position::new(m.column, m.row);
        if grow(self.view.shell).contains(pos) {
            return self.shell_mouse(m);
        }
        let pane = [
            (Pane::Instructions, self.view.instructions),
            (Pane::Steps, self.view.steps),
            (Pane::Cluster, self.view.cluster),
        ]
        .into_iter()
        // Count the border as part of the pane.
        .find(|(_, r)| grow(*r).contains(pos))
        .map(|(p, _)| p);
        let Some(pane) = pane else {
            return Redraw::No;
        };
        match m.kind {
            MouseEventKind::ScrollUp => self.scroll_pane(pane, -3),
            MouseEventKind::ScrollDown => self.scroll_pane(pane, 3),
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                match pane {
                    Pane::Instructions => {
                        let r = self.view.instructions;
                        if r.contains(pos) {
                            let line = usize::from(self.scroll) + usize::from(m.row - r.y);
                            let w = self.page_width();
                            let hit = self
                                .page(w)
                                .doc
                                .code_blocks
                                .iter()
                                .position(|b| (b.start..b.end).contains(&line));
                            if hit.is_some() {
                                self.code_focus = hit;
                            }
                        }
                    }
                    Pane::Steps => {
                        if let Some(&(_, i)) = self.view.step_rows.iter().find(|(y, _)| *y == m.row)
                        {
                            self.step_sel = i;
                        }
                    }
                    Pane::Cluster | Pane::Shell => {}
                }
                Redraw::Yes
            }
            _ => Redraw::No,
        }
    }
}

fn grow(r: Rect) -> Rect {
    Rect::new(
        r.x.saturating_sub(1),
        r.y.saturating_sub(1),
        r.width.saturating_add(2),
        r.height.saturating_add(2),
    )
}

/// `page()` always fills the cache before reading it; an empty page keeps
/// this path panic-free anyway.
fn unreachable_page() -> &'static Page {
    static EMPTY: std::sync::OnceLock<Page> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Page::default)
}
