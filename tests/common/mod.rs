//! Fixture course for the TUI tests, built in code until the lesson parser
//! lands on main (then it is parsed from tests/fixtures/).
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubetutor::course::Course;
use kubetutor::lesson::{FrontMatter, Hint, Lang, Lesson, Markdown, Pos, Requires, Step};
use kubetutor::progress::{Progress, ProgressSaver};
use kubetutor::tui::{App, AppEvent, ConnectionInfo, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn md(s: &str) -> Markdown {
    Markdown {
        source: s.to_owned(),
        pos: Pos::default(),
    }
}

fn step(id: &str, title: &str, body: &str, hints: &[(&str, &str)], solution: Option<&str>) -> Step {
    Step {
        id: id.into(),
        title: title.into(),
        pos: Pos::default(),
        body: md(body),
        check: None,
        hints: hints
            .iter()
            .map(|(l, b)| Hint {
                label: (*l).into(),
                body: md(b),
            })
            .collect(),
        solution: solution.map(md),
    }
}

fn lesson(id: &str, order: u32, title: &str, intro: &str, steps: Vec<Step>) -> Lesson {
    Lesson {
        lang: Lang::En,
        path: format!("lessons/en/{id}.md"),
        meta: FrontMatter {
            id: id.into(),
            title: title.into(),
            summary: format!("{title} summary"),
            minutes: 10,
            order,
            requires: Requires::default(),
        },
        intro: md(intro),
        steps,
    }
}

pub const INTRO: &str = "# The container filesystem\n\n\
Files written inside a container live in its **writable layer**. \
That layer is *deleted* with the pod: nothing in it survives.\n\n\
> Pods are cattle, not pets.\n\n\
| Storage | Survives pod deletion |\n|---|:---:|\n| container layer | no |\n| emptyDir | no |\n| PVC | yes |\n\n\
See [volumes](https://kubernetes.io/docs/concepts/storage/volumes/).";

pub fn course() -> Course {
    let l1 = lesson(
        "ephemeral",
        1,
        "Ephemeral storage",
        INTRO,
        vec![
            step(
                "create-pod",
                "Create a pod",
                "Save this manifest as `pod.yaml`:\n\n```yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web # the pod\nspec:\n  containers:\n    - name: web\n      image: \"nginx:1.27\"\n```\n\nThen apply it:\n\n```bash\nkubectl apply -f pod.yaml\n```",
                &[
                    ("Which command?", "Use `kubectl apply`."),
                    ("The flag", "`-f` takes a file name."),
                ],
                Some("```console\n$ kubectl apply -f pod.yaml\npod/web created\n```"),
            ),
            step(
                "write-file",
                "Write a file",
                "Write a file in the container:\n\n1. Open a shell\n2. Write the file\n   - in `/usr/share/nginx/html`\n   - named `hello.txt`\n\n```sh\nkubectl exec web -- sh -c 'echo hello > /usr/share/nginx/html/hello.txt'\n```",
                &[(
                    "Exec",
                    "`kubectl exec web -- ...` runs a command in the pod.",
                )],
                Some(
                    "```sh\nkubectl exec web -- sh -c 'echo hello > /usr/share/nginx/html/hello.txt'\n```",
                ),
            ),
            step(
                "delete-pod",
                "Delete and recreate the pod",
                "Delete the pod, apply the manifest again and look for the file. ~~It is there.~~ It is gone.\n\n```bash\nkubectl delete pod web && kubectl apply -f pod.yaml\n```",
                &[],
                None,
            ),
        ],
    );
    let l2 = lesson(
        "emptydir",
        2,
        "Sharing with emptyDir",
        "# emptyDir\n\nAn `emptyDir` is shared by the containers of one pod.",
        vec![step(
            "shared",
            "Share a volume",
            "Mount the same `emptyDir` in two containers.",
            &[],
            None,
        )],
    );
    let l3 = lesson(
        "pvc",
        3,
        "Claims that outlive pods",
        "# PersistentVolumeClaims\n\nA PVC keeps the data when the pod is replaced.",
        vec![step(
            "claim",
            "Create a claim",
            "Create a PVC named `data`.",
            &[],
            None,
        )],
    );
    Course::from_lessons(vec![l2, l1, l3])
}

pub fn app_with(progress: Progress, theme: Theme) -> App {
    App::new(
        course(),
        Lang::En,
        progress,
        ProgressSaver::disabled(),
        None,
        ConnectionInfo {
            context: "sandbox".into(),
            ..ConnectionInfo::default()
        },
        theme,
    )
}

pub fn app() -> App {
    app_with(Progress::default(), Theme::default())
}

pub fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> AppEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn terminal(w: u16, h: u16) -> Terminal<TestBackend> {
    match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    }
}

/// Draws the app and returns the terminal for snapshots.
pub fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = terminal(w, h);
    draw_on(&mut t, app);
    t
}

pub fn draw_on(t: &mut Terminal<TestBackend>, app: &mut App) {
    if let Err(e) = t.draw(|f| kubetutor::tui::ui::draw(f, app)) {
        panic!("draw: {e}");
    }
}

pub fn send(app: &mut App, ev: AppEvent) {
    let _ = app.update(ev);
}

pub fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}
