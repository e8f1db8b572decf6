//! The UI's own words in each course language (lesson text comes from the
//! lessons). Templates take `{0}`, `{1}`... filled by [`fill`].

use crate::lesson::Lang;

pub struct Strings {
    pub step_heading: &'static str,
    pub hint: &'static str,
    pub hint_labelled: &'static str,
    pub solution: &'static str,
    pub steps_title: &'static str,
    pub cluster_title: &'static str,
    pub not_connected: &'static str,
    pub connecting: &'static str,
    pub connected: &'static str,
    pub error: &'static str,
    pub waiting_watch: &'static str,
    pub cluster_placeholder: &'static str,
    pub updated_ago: &'static str,
    pub status_ns: &'static str,
    pub status_lesson: &'static str,
    pub status_step: &'static str,
    pub key_help: &'static str,
    pub key_hint: &'static str,
    pub key_lessons: &'static str,
    pub key_quit: &'static str,
    pub keys: [(&'static str, &'static str); 15],
    pub help_title: &'static str,
    pub help_footer: &'static str,
    pub esc_closes: &'static str,
    pub lessons_title: &'static str,
    pub lessons_footer: &'static str,
    pub no_lessons: &'static str,
    pub minutes: &'static str,
    pub confirm_question: &'static str,
    pub confirm_advice: &'static str,
    pub confirm_yes: &'static str,
    pub confirm_no: &'static str,
    pub too_small: &'static str,
    pub too_small_need: &'static str,
    pub msg_lesson_complete: &'static str,
    pub msg_step_done: &'static str,
    pub msg_last_lesson: &'static str,
    pub msg_first_lesson: &'static str,
    pub msg_all_done: &'static str,
    pub msg_no_hints: &'static str,
    pub msg_no_more_hints: &'static str,
    pub msg_hint_revealed: &'static str,
    pub msg_no_solution: &'static str,
    pub msg_no_code: &'static str,
    pub msg_copy_again: &'static str,
    pub msg_copied: &'static str,
    pub copy_label: &'static str,
}

/// Replaces `{0}`, `{1}`... with `args`.
pub fn fill(template: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut s = template.to_owned();
    for (i, a) in args.iter().enumerate() {
        s = s.replace(&format!("{{{i}}}"), &a.to_string());
    }
    s
}

pub fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

static EN: Strings = Strings {
    step_heading: "Step {0}/{1} · ",
    hint: "Hint {0}/{1}",
    hint_labelled: "Hint {0}/{1}: {2}",
    solution: "Solution",
    steps_title: " Steps {0}/{1} ",
    cluster_title: " Cluster ",
    not_connected: "not connected",
    connecting: "connecting…",
    connected: "connected",
    error: "error: {0}",
    waiting_watch: "Waiting for the first watch events…",
    cluster_placeholder: "The live view of pods, volumes and claims appears here once a cluster is connected.",
    updated_ago: " updated {0}s ago ",
    status_ns: "ns {0}",
    status_lesson: "lesson {0}/{1}",
    status_step: "step {0}/{1}",
    key_help: "help",
    key_hint: "hint",
    key_lessons: "lessons",
    key_quit: "quit",
    keys: [
        ("↑ ↓  j k", "scroll, or move the selection"),
        ("PgUp PgDn", "page up / down"),
        ("Home End  g G", "top / bottom"),
        ("Tab  Shift-Tab", "next / previous pane"),
        ("mouse", "wheel scrolls, click focuses"),
        ("Enter", "steps pane: show the step"),
        ("[  ]", "previous / next code block"),
        ("y", "copy the highlighted code block"),
        ("h", "reveal the next hint"),
        ("s", "show the solution (asks first)"),
        ("l", "lesson list"),
        ("n  p", "next / previous lesson"),
        ("?", "this help"),
        ("Esc", "close a dialog, or quit"),
        ("q  Ctrl-C", "quit (progress is saved)"),
    ],
    help_title: " Keys ",
    help_footer: " Steps tick themselves off when the cluster shows the result.",
    esc_closes: " Esc closes ",
    lessons_title: " Lessons ",
    lessons_footer: " ↑↓ Enter open · Esc ",
    no_lessons: "The course has no lessons in this language.",
    minutes: "{0} min",
    confirm_question: " Show the solution of {0}?",
    confirm_advice: " Trying with the hints first teaches more.",
    confirm_yes: " show it   ",
    confirm_no: " not now",
    too_small: "terminal too small",
    too_small_need: "{0}x{1}, need {2}x{3}",
    msg_lesson_complete: "Lesson complete! Press n for the next lesson.",
    msg_step_done: "Step done: {0}",
    msg_last_lesson: "This is the last lesson.",
    msg_first_lesson: "This is the first lesson.",
    msg_all_done: "Every step is done.",
    msg_no_hints: "This step has no hints.",
    msg_no_more_hints: "No more hints for this step (s shows the solution).",
    msg_hint_revealed: "Hint {0}/{1} revealed.",
    msg_no_solution: "This step has no solution to show.",
    msg_no_code: "This lesson has no code blocks.",
    msg_copy_again: "Press y again to copy the highlighted block ([ ] pick another).",
    msg_copied: "Copied {0} line(s) to the clipboard.",
    copy_label: "y: copy",
};

static FR: Strings = Strings {
    step_heading: "Étape {0}/{1} · ",
    hint: "Indice {0}/{1}",
    hint_labelled: "Indice {0}/{1} : {2}",
    solution: "Solution",
    steps_title: " Étapes {0}/{1} ",
    cluster_title: " Cluster ",
    not_connected: "non connecté",
    connecting: "connexion…",
    connected: "connecté",
    error: "erreur : {0}",
    waiting_watch: "En attente des premiers événements…",
    cluster_placeholder: "La vue en direct des pods, volumes et claims s'affiche ici une fois un cluster connecté.",
    updated_ago: " mis à jour il y a {0} s ",
    status_ns: "ns {0}",
    status_lesson: "leçon {0}/{1}",
    status_step: "étape {0}/{1}",
    key_help: "aide",
    key_hint: "indice",
    key_lessons: "leçons",
    key_quit: "quitter",
    keys: [
        ("↑ ↓  j k", "défiler, ou déplacer la sélection"),
        ("PgUp PgDn", "page précédente / suivante"),
        ("Home End  g G", "début / fin"),
        ("Tab  Shift-Tab", "panneau suivant / précédent"),
        ("souris", "la molette défile, un clic active"),
        ("Entrée", "panneau des étapes : montrer l'étape"),
        ("[  ]", "bloc de code précédent / suivant"),
        ("y", "copier le bloc de code en surbrillance"),
        ("h", "afficher l'indice suivant"),
        ("s", "afficher la solution (avec confirmation)"),
        ("l", "liste des leçons"),
        ("n  p", "leçon suivante / précédente"),
        ("?", "cette aide"),
        ("Échap", "fermer une fenêtre, ou quitter"),
        ("q  Ctrl-C", "quitter (la progression est enregistrée)"),
    ],
    help_title: " Touches ",
    help_footer: " Les étapes se cochent seules quand le cluster montre le résultat.",
    esc_closes: " Échap ferme ",
    lessons_title: " Leçons ",
    lessons_footer: " ↑↓ Entrée ouvre · Échap ",
    no_lessons: "Le cours n'a pas de leçon dans cette langue.",
    minutes: "{0} min",
    confirm_question: " Afficher la solution de {0} ?",
    confirm_advice: " Essayer d'abord avec les indices apprend davantage.",
    confirm_yes: " l'afficher   ",
    confirm_no: " pas maintenant",
    too_small: "terminal trop petit",
    too_small_need: "{0}x{1}, il faut {2}x{3}",
    msg_lesson_complete: "Leçon terminée ! n pour la leçon suivante.",
    msg_step_done: "Étape réussie : {0}",
    msg_last_lesson: "C'est la dernière leçon.",
    msg_first_lesson: "C'est la première leçon.",
    msg_all_done: "Toutes les étapes sont faites.",
    msg_no_hints: "Cette étape n'a pas d'indice.",
    msg_no_more_hints: "Plus d'indice pour cette étape (s affiche la solution).",
    msg_hint_revealed: "Indice {0}/{1} affiché.",
    msg_no_solution: "Cette étape n'a pas de solution à afficher.",
    msg_no_code: "Cette leçon n'a pas de bloc de code.",
    msg_copy_again: "y encore pour copier le bloc en surbrillance ([ ] pour en choisir un autre).",
    msg_copied: "{0} ligne(s) copiée(s) dans le presse-papiers.",
    copy_label: "y : copier",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_placeholders() {
        assert_eq!(fill("a {0} b {1} {0}", &[&1, &"x"]), "a 1 b x 1");
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        for (en, fr) in EN.keys.iter().zip(FR.keys.iter()) {
            assert!(!en.1.is_empty() && !fr.1.is_empty());
        }
    }
}
