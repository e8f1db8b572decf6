//! The instructor's grid: its state and what each key does. No I/O: the
//! loop (`instructor`) reads the roster, calls [`Grid::key`], carries out
//! the returned [`Action`] and draws with `grid_ui`.

use super::roster::{Order, Roster};
use crate::course::Course;
use crate::lesson::{Lang, Lesson};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A dialog over the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// One learner's steps, reasons and live hint.
    Learner {
        name: String,
    },
    /// Writing a message to every learner.
    Compose {
        text: String,
    },
    /// Quitting stops the classroom: asked first.
    ConfirmQuit,
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Something changed on screen.
    Redraw,
    Post(String),
    /// Hold the class at this lesson id (`None`: release).
    Hold(Option<String>),
    Quit,
}

/// How learners are followed, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The classroom server: join code and address to read out.
    Server { join: String },
    /// A shared cluster: its context and the classroom's name.
    Cluster { context: String, classroom: String },
}

pub struct Grid {
    pub course: Course,
    pub lang: Lang,
    pub source: Source,
    /// The lesson whose steps are the columns (index in the course).
    pub lesson: usize,
    /// Whether the instructor chose it (else it follows the class).
    chosen: bool,
    pub order: Order,
    /// The selected row.
    pub selected: usize,
    /// The first row shown.
    pub scroll: usize,
    pub overlay: Option<Overlay>,
    /// A line in the status bar until the next key.
    pub note: Option<String>,
    /// Rows that fit, as last drawn (for paging).
    pub page: usize,
}

/// Longest message the compose box takes (the server's limit).
const MAX_TEXT: usize = super::server::MAX_MESSAGE;

impl Grid {
    pub fn new(course: Course, lang: Lang, source: Source) -> Grid {
        Grid {
            course,
            lang,
            source,
            lesson: 0,
            chosen: false,
            order: Order::StuckLongest,
            selected: 0,
            scroll: 0,
            overlay: None,
            note: None,
            page: 10,
        }
    }

    pub fn lessons(&self) -> &[Lesson] {
        self.course.lessons(self.lang)
    }

    pub fn words(&self) -> &'static Words {
        words(self.lang)
    }

    /// The lesson shown, following the class until the instructor picks
    /// one: the lesson most learners are on.
    pub fn follow(&mut self, roster: &Roster) {
        if self.chosen {
            return;
        }
        let mut counts = vec![0usize; self.lessons().len()];
        for l in roster.learners.values() {
            if let Some(i) = l
                .position()
                .and_then(|(id, _)| self.lessons().iter().position(|x| x.id() == id))
            {
                counts[i] += 1;
            }
        }
        if let Some((i, _)) = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .max_by_key(|(i, c)| (**c, usize::MAX - i))
        {
            self.lesson = i;
        }
    }

    /// The names of the rows, in order.
    pub fn rows(&self, roster: &Roster, now: jiff::Timestamp) -> Vec<String> {
        roster
            .sorted(self.order, now)
            .iter()
            .map(|l| l.name.clone())
            .collect()
    }

    fn move_to(&mut self, row: isize, n: usize) {
        let max = n.saturating_sub(1);
        self.selected = usize::try_from(row.max(0)).unwrap_or(0).min(max);
        if self.selected < self.scroll {
            self.scroll = self.selected;
        } else if self.selected >= self.scroll + self.page.max(1) {
            self.scroll = self.selected + 1 - self.page.max(1);
        }
    }

    /// One key press.
    pub fn key(&mut self, k: KeyEvent, roster: &Roster, now: jiff::Timestamp) -> Action {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        let had_note = self.note.take().is_some();
        let a = match self.overlay.clone() {
            Some(o) => self.overlay_key(o, k),
            None => self.main_key(k, roster, now),
        };
        match a {
            Action::None if had_note => Action::Redraw,
            a => a,
        }
    }

    fn overlay_key(&mut self, o: Overlay, k: KeyEvent) -> Action {
        match (o, k.code) {
            (Overlay::Compose { text }, KeyCode::Enter) => {
                self.overlay = None;
                if text.trim().is_empty() {
                    return Action::Redraw;
                }
                Action::Post(text)
            }
            (Overlay::Compose { .. }, KeyCode::Esc) => {
                self.overlay = None;
                Action::Redraw
            }
            (Overlay::Compose { mut text }, KeyCode::Backspace) => {
                text.pop();
                self.overlay = Some(Overlay::Compose { text });
                Action::Redraw
            }
            (Overlay::Compose { mut text }, KeyCode::Char(c)) => {
                if text.chars().count() < MAX_TEXT && !c.is_control() {
                    text.push(c);
                }
                self.overlay = Some(Overlay::Compose { text });
                Action::Redraw
            }
            (Overlay::Compose { .. }, _) => Action::None,
            (Overlay::ConfirmQuit, KeyCode::Char('y' | 'Y' | 'o' | 'O' | 'q')) => Action::Quit,
            (Overlay::ConfirmQuit, _) => {
                self.overlay = None;
                Action::Redraw
            }
            (_, KeyCode::Char('q')) => {
                self.overlay = Some(Overlay::ConfirmQuit);
                Action::Redraw
            }
            (_, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?')) => {
                self.overlay = None;
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn main_key(&mut self, k: KeyEvent, roster: &Roster, now: jiff::Timestamp) -> Action {
        let n = roster.learners.len();
        let sel = isize::try_from(self.selected).unwrap_or(0);
        let page = isize::try_from(self.page.max(1)).unwrap_or(1);
        let lessons = self.lessons().len();
        match k.code {
            KeyCode::Char('q') => {
                self.overlay = Some(Overlay::ConfirmQuit);
            }
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help),
            KeyCode::Up | KeyCode::Char('k') => self.move_to(sel - 1, n),
            KeyCode::Down | KeyCode::Char('j') => self.move_to(sel + 1, n),
            KeyCode::PageUp => self.move_to(sel - page, n),
            KeyCode::PageDown => self.move_to(sel + page, n),
            KeyCode::Home | KeyCode::Char('g') => self.move_to(0, n),
            KeyCode::End | KeyCode::Char('G') => self.move_to(isize::MAX, n),
            KeyCode::Left | KeyCode::Char('[') => {
                self.lesson = self.lesson.saturating_sub(1);
                self.chosen = true;
            }
            KeyCode::Right | KeyCode::Char(']') => {
                self.lesson = (self.lesson + 1).min(lessons.saturating_sub(1));
                self.chosen = true;
            }
            KeyCode::Char('s') => {
                self.order = match self.order {
                    Order::StuckLongest => Order::Name,
                    Order::Name => Order::StuckLongest,
                };
            }
            KeyCode::Enter => {
                if let Some(name) = self.rows(roster, now).get(self.selected) {
                    self.overlay = Some(Overlay::Learner { name: name.clone() });
                }
            }
            KeyCode::Char('m') => {
                self.overlay = Some(Overlay::Compose {
                    text: String::new(),
                })
            }
            KeyCode::Char('H') => {
                let id = self.lessons().get(self.lesson).map(|l| l.id().to_owned());
                return match id {
                    Some(id) => Action::Hold(Some(id)),
                    None => Action::None,
                };
            }
            KeyCode::Char('R') => {
                return if roster.hold.is_some() {
                    Action::Hold(None)
                } else {
                    self.note = Some(self.words().not_held.to_owned());
                    Action::Redraw
                };
            }
            _ => return Action::None,
        }
        Action::Redraw
    }
}

/// The grid's words.
pub struct Words {
    pub title: &'static str,
    /// {0}: join command.
    pub join: &'static str,
    /// {0}: context, {1}: classroom.
    pub following: &'static str,
    /// {0}: count, {1}: connected.
    pub counts: &'static str,
    /// {0}: n, {1}: count, {2}: title.
    pub lesson: &'static str,
    /// {0}: n, {1}: title.
    pub held: &'static str,
    pub not_held: &'static str,
    pub sort_stuck: &'static str,
    pub sort_name: &'static str,
    pub col_name: &'static str,
    pub col_lesson: &'static str,
    pub col_step: &'static str,
    pub col_on: &'static str,
    pub col_reason: &'static str,
    pub col_hints: &'static str,
    pub col_last: &'static str,
    pub summary: &'static str,
    pub nobody: &'static str,
    pub keys: &'static str,
    pub help_title: &'static str,
    pub help: &'static [&'static str],
    pub compose_title: &'static str,
    pub compose_help: &'static str,
    pub quit_question: &'static str,
    /// {0}: name.
    pub learner_title: &'static str,
    pub connected: &'static str,
    pub disconnected: &'static str,
    pub no_report: &'static str,
    pub lesson_done: &'static str,
    pub hint: &'static str,
    /// {0}: hints, {1}: solutions.
    pub revealed: &'static str,
    /// {0}: text.
    pub posted: &'static str,
    /// {0}: lesson n.
    pub holding: &'static str,
    pub released: &'static str,
    pub too_small: &'static str,
}

static EN: Words = Words {
    title: "kubetutor classroom",
    join: "learners join with: kubetutor --join {0} --name NAME",
    following: "following the shared cluster {0}, classroom {1}",
    counts: "{0} learner(s), {1} connected",
    lesson: "Lesson {0}/{1}: {2}",
    held: "class held at lesson {0}: {1}",
    not_held: "The class is not held.",
    sort_stuck: "sorted by stuck longest",
    sort_name: "sorted by name",
    col_name: "Learner",
    col_lesson: "Lesson",
    col_step: "Step",
    col_on: "On it",
    col_reason: "Checker says",
    col_hints: "Hints",
    col_last: "Active",
    summary: "Done per step:",
    nobody: "No learner has joined yet.",
    keys: "↑↓ learner  Enter details  ←→ lesson  s sort  m message  H hold here  R release  ? help  q quit",
    help_title: " Classroom keys ",
    help: &[
        "↑/↓ j/k, PgUp/PgDn, Home/End   choose a learner",
        "Enter                          that learner's steps, reasons and live hint",
        "←/→ [ ]                        the lesson whose steps are the columns",
        "s                              sort by stuck longest / by name",
        "m                              write a message every learner sees",
        "H                              hold the class at the lesson shown",
        "R                              release the hold",
        "q                              quit (stops the classroom)",
        "",
        "Columns: ✔ done  ▶ active  ✘ failing  ○ not reached",
    ],
    compose_title: " Message to every learner ",
    compose_help: "Enter sends, Esc cancels",
    quit_question: "Stop the classroom? Learners keep working and report again when it is back. (y/n)",
    learner_title: " {0} ",
    connected: "connected",
    disconnected: "not connected",
    no_report: "no progress reported yet",
    lesson_done: "lesson done",
    hint: "live hint:",
    revealed: "{0} hint(s), {1} solution(s) revealed",
    posted: "Message sent: {0}",
    holding: "The class is held at lesson {0}.",
    released: "The hold is released.",
    too_small: "The terminal is too small for the grid: make it at least 60×12.",
};

static FR: Words = Words {
    title: "kubetutor, la classe",
    join: "les apprenants rejoignent avec : kubetutor --join {0} --name NOM",
    following: "suivi du cluster partagé {0}, classe {1}",
    counts: "{0} apprenant(s), {1} connecté(s)",
    lesson: "Leçon {0}/{1} : {2}",
    held: "classe retenue à la leçon {0} : {1}",
    not_held: "La classe n'est pas retenue.",
    sort_stuck: "triés par blocage le plus long",
    sort_name: "triés par nom",
    col_name: "Apprenant",
    col_lesson: "Leçon",
    col_step: "Étape",
    col_on: "Depuis",
    col_reason: "Le vérificateur dit",
    col_hints: "Indices",
    col_last: "Actif",
    summary: "Faites par étape :",
    nobody: "Aucun apprenant n'a encore rejoint la classe.",
    keys: "↑↓ apprenant  Entrée détail  ←→ leçon  s tri  m message  H retenir ici  R libérer  ? aide  q quitter",
    help_title: " Touches de la classe ",
    help: &[
        "↑/↓ j/k, PgPréc/PgSuiv, Début/Fin   choisir un apprenant",
        "Entrée                              ses étapes, raisons et indice du moment",
        "←/→ [ ]                             la leçon dont les étapes sont les colonnes",
        "s                                   trier par blocage le plus long / par nom",
        "m                                   écrire un message à tous les apprenants",
        "H                                   retenir la classe à la leçon affichée",
        "R                                   libérer la classe",
        "q                                   quitter (arrête la classe)",
        "",
        "Colonnes : ✔ faite  ▶ en cours  ✘ en échec  ○ pas encore",
    ],
    compose_title: " Message à tous les apprenants ",
    compose_help: "Entrée envoie, Échap annule",
    quit_question: "Arrêter la classe ? Les apprenants continuent et renvoient leur progression à son retour. (o/n)",
    learner_title: " {0} ",
    connected: "connecté",
    disconnected: "non connecté",
    no_report: "aucune progression reçue",
    lesson_done: "leçon terminée",
    hint: "indice du moment :",
    revealed: "{0} indice(s), {1} solution(s) dévoilé(s)",
    posted: "Message envoyé : {0}",
    holding: "La classe est retenue à la leçon {0}.",
    released: "La classe est libérée.",
    too_small: "Le terminal est trop petit pour la grille : au moins 60×12.",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::report::Report;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn keys_move_hold_and_compose() {
        let course = Course::embedded().unwrap();
        let mut g = Grid::new(
            course,
            Lang::En,
            Source::Server {
                join: "X@h:1".into(),
            },
        );
        let mut roster = Roster::default();
        let now = jiff::Timestamp::now();
        for n in ["ana", "bob", "cy"] {
            roster.admit(n, None).unwrap();
        }
        let l3 = g.lessons()[2].id().to_owned();
        let report = Report {
            lesson: Some(l3.clone()),
            lessons: vec![super::super::report::LessonReport {
                id: l3.clone(),
                steps: vec![],
            }],
            ..Report::default()
        };
        roster.report("bob", report, now);
        g.follow(&roster);
        assert_eq!(g.lesson, 2);
        assert_eq!(g.key(key(KeyCode::Down), &roster, now), Action::Redraw);
        assert_eq!(g.key(key(KeyCode::End), &roster, now), Action::Redraw);
        assert_eq!(g.selected, 2);
        assert_eq!(
            g.key(key(KeyCode::Char('H')), &roster, now),
            Action::Hold(Some(l3))
        );
        assert_eq!(g.key(key(KeyCode::Char('R')), &roster, now), Action::Redraw);
        assert_eq!(g.note.as_deref(), Some("The class is not held."));
        g.key(key(KeyCode::Char('m')), &roster, now);
        for c in "hi all".chars() {
            g.key(key(KeyCode::Char(c)), &roster, now);
        }
        assert_eq!(
            g.key(key(KeyCode::Enter), &roster, now),
            Action::Post("hi all".into())
        );
        g.key(key(KeyCode::Right), &roster, now);
        assert_eq!(g.lesson, 3);
        g.follow(&roster);
        assert_eq!(g.lesson, 3, "chosen by the instructor: kept");
        g.key(key(KeyCode::Char('q')), &roster, now);
        assert_eq!(g.overlay, Some(Overlay::ConfirmQuit));
        assert_eq!(g.key(key(KeyCode::Char('y')), &roster, now), Action::Quit);
    }
}
