//! What plain mode says, in each course language. Templates take `{0}`,
//! `{1}`... filled by [`fill`]. The command words themselves are in
//! `commands`; the descriptions of the keys they mirror come from the TUI's
//! own help (`tui::strings`), so both interfaces use the same words.

use crate::lesson::Lang;

pub use crate::check::words::fill;

pub struct Words {
    pub welcome: &'static str,
    /// {0}: context, {1}: namespace.
    pub connected: &'static str,
    pub connecting: &'static str,
    /// {0}: why.
    pub reconnecting: &'static str,
    pub connection_back: &'static str,
    /// {0}: why.
    pub connection_failed: &'static str,
    /// {0}: what.
    pub note: &'static str,
    /// {0}: number, {1}: count, {2}: title, {3}: minutes, {4}: done, {5}: steps.
    pub lesson_header: &'static str,
    /// {0}: number, {1}: count, {2}: state, {3}: title.
    pub step_heading: &'static str,
    /// pending, active, done, failing.
    pub states: [&'static str; 4],
    pub code: &'static str,
    /// {0}: alt text.
    pub image: &'static str,
    /// {0}: number, {1}: count.
    pub hint: &'static str,
    /// {0}: number, {1}: count, {2}: label.
    pub hint_labelled: &'static str,
    pub solution: &'static str,
    pub quiz_prompt: &'static str,
    pub quiz_prompt_many: &'static str,
    /// {0}: letter.
    pub quiz_right_choice: &'static str,
    /// {0}: number, {1}: title.
    pub step_done: &'static str,
    /// {0}: number, {1}: count, {2}: title.
    pub step_next: &'static str,
    /// {0}: lesson title.
    pub lesson_complete: &'static str,
    pub lesson_complete_last: &'static str,
    /// {0}: number, {1}: reason.
    pub waiting: &'static str,
    /// {0}: number, {1}: reason.
    pub failing: &'static str,
    /// {0}: hint.
    pub live_hint: &'static str,
    pub end_of_lesson: &'static str,
    pub start_of_lesson: &'static str,
    pub no_next_step: &'static str,
    pub no_previous_step: &'static str,
    pub last_lesson: &'static str,
    pub first_lesson: &'static str,
    pub all_done: &'static str,
    /// {0}: number, {1}: count, {2}: title.
    pub steps_title: &'static str,
    /// {0}: number, {1}: count, {2}: state, {3}: title.
    pub steps_row: &'static str,
    /// {0}: reason.
    pub steps_reason: &'static str,
    pub no_hints: &'static str,
    pub no_more_hints: &'static str,
    pub no_solution: &'static str,
    /// {0}: number, {1}: title.
    pub solution_question: &'static str,
    pub solution_not_shown: &'static str,
    pub not_a_quiz: &'static str,
    pub answer_usage: &'static str,
    /// {0}: the word given, {1}: last letter.
    pub answer_bad: &'static str,
    pub answer_one: &'static str,
    pub right: &'static str,
    pub wrong: &'static str,
    /// {0}: count.
    pub wrong_many: &'static str,
    pub lessons_title: &'static str,
    /// {0}: number, {1}: title, {2}: minutes, {3}: done, {4}: steps.
    pub lessons_row: &'static str,
    pub lessons_current: &'static str,
    /// {0}: what was typed.
    pub no_such_lesson: &'static str,
    pub lesson_usage: &'static str,
    pub no_lessons: &'static str,
    /// {0}: lines.
    pub copied: &'static str,
    pub copy_no_terminal: &'static str,
    pub no_code: &'static str,
    /// {0}: namespace.
    pub cluster_title: &'static str,
    pub cluster_reading: &'static str,
    pub cluster_not_connected: &'static str,
    /// {0}: namespace.
    pub no_pods: &'static str,
    /// {0}: name, {1}: status, {2}: ready, {3}: containers.
    pub pod: &'static str,
    pub pod_terminating: &'static str,
    /// {0}: restarts.
    pub pod_restarts: &'static str,
    /// {0}: volumes.
    pub pod_volumes: &'static str,
    /// {0}: name.
    pub pod_deleted: &'static str,
    /// {0}: claim.
    pub volume_claim: &'static str,
    pub no_claims: &'static str,
    /// {0}: name, {1}: status.
    pub claim: &'static str,
    /// {0}: volume.
    pub claim_volume: &'static str,
    /// {0}: capacity, {1}: access modes.
    pub claim_size: &'static str,
    /// {0}: class.
    pub class: &'static str,
    /// {0}: name.
    pub claim_deleted: &'static str,
    pub no_volumes: &'static str,
    /// {0}: name, {1}: status, {2}: capacity.
    pub volume: &'static str,
    /// {0}: claim.
    pub volume_bound: &'static str,
    /// {0}: policy.
    pub volume_policy: &'static str,
    /// {0}: name.
    pub volume_deleted: &'static str,
    /// {0}: count.
    pub and_more: &'static str,
    pub shell_opening: &'static str,
    pub shell_back: &'static str,
    /// {0}: why.
    pub shell_failed: &'static str,
    /// {0}: the commands to run.
    pub shell_unavailable: &'static str,
    /// {0}: what was typed.
    pub unknown: &'static str,
    pub help_title: &'static str,
    /// Each command with its description, or with the label of the TUI key
    /// it mirrors (`h`, `s`...), whose description in the keys' help is
    /// used: both interfaces say the same.
    pub help: [(&'static str, &'static str); 17],
    pub lab: &'static str,
    pub bye: &'static str,
    /// {0}: why.
    pub save_failed: &'static str,
}

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

static EN: Words = Words {
    welcome: "kubetutor, plain mode. Type help for the commands, quit to leave. Press Enter alone to read on.",
    connected: "Cluster: connected to {0}, namespace {1}.",
    connecting: "Cluster: connecting.",
    reconnecting: "Cluster connection lost, reconnecting: {0}",
    connection_back: "Cluster connection is back.",
    connection_failed: "Cluster connection failed: {0}",
    note: "Note: {0}",
    lesson_header: "Lesson {0} of {1}: {2}. About {3} minutes, {4} of {5} steps done.",
    step_heading: "Step {0} of {1}, {2}: {3}",
    states: ["to do", "current", "done", "failing"],
    code: "Code:",
    image: "image: {0}",
    hint: "Hint {0} of {1}:",
    hint_labelled: "Hint {0} of {1}, {2}:",
    solution: "Solution:",
    quiz_prompt: "To answer, type answer and the letter, for example: answer b.",
    quiz_prompt_many: "Several answers are right: type answer and every right letter, for example: answer a c.",
    quiz_right_choice: "Right answer: {0}.",
    step_done: "Step {0} done: {1}.",
    step_next: "Next, step {0} of {1}: {2}. Type step to read it.",
    lesson_complete: "Lesson complete: {0}. Type next lesson for the next one.",
    lesson_complete_last: "Lesson complete. That was the last lesson of the course.",
    waiting: "Step {0}: waiting — {1}",
    failing: "Step {0}: failing — {1}",
    live_hint: "Hint: {0}",
    end_of_lesson: "End of the lesson. Type steps for the checklist, or next lesson.",
    start_of_lesson: "This is the beginning of the lesson.",
    no_next_step: "This is the last step of the lesson.",
    no_previous_step: "This is the first step of the lesson.",
    last_lesson: "This is the last lesson.",
    first_lesson: "This is the first lesson.",
    all_done: "Every step of this lesson is done.",
    steps_title: "Steps of lesson {0} of {1}, {2}:",
    steps_row: "Step {0} of {1}, {2}: {3}.",
    steps_reason: "  Waiting for: {0}",
    no_hints: "This step has no hints.",
    no_more_hints: "No more hints for this step. Type solution to see the solution.",
    no_solution: "This step has no solution to show.",
    solution_question: "Show the solution of step {0}, {1}? Trying with the hints first teaches more. Type yes to show it, anything else to go on.",
    solution_not_shown: "The solution is not shown.",
    not_a_quiz: "The current step is not a question: do it in the cluster.",
    answer_usage: "Type answer and the letter of your choice, for example: answer b.",
    answer_bad: "There is no choice {0}: the choices go from a to {1}.",
    answer_one: "This question has one right answer: give one letter.",
    right: "Right!",
    wrong: "Not quite: try again.",
    wrong_many: "Not quite: {0} choices are right, try again.",
    lessons_title: "Lessons:",
    lessons_row: "Lesson {0}: {1}. {2} minutes, {3} of {4} steps done.",
    lessons_current: "This is the open lesson.",
    no_such_lesson: "There is no lesson {0}. Type lessons for the list.",
    lesson_usage: "Type lesson and its number, for example: lesson 2.",
    no_lessons: "The course has no lessons in this language.",
    copied: "Copied the code block, {0} line(s), to the clipboard.",
    copy_no_terminal: "The clipboard is reached through the terminal, and the output does not go to one that can do it. The code block is:",
    no_code: "No code block read yet in this lesson. Type next to read on.",
    cluster_title: "Cluster, namespace {0}:",
    cluster_reading: "Reading the cluster, try again in a moment.",
    cluster_not_connected: "Not connected to the cluster.",
    no_pods: "No pods in namespace {0}.",
    pod: "Pod {0} is {1}, {2} of {3} ready",
    pod_terminating: ", terminating",
    pod_restarts: ", {0} restart(s)",
    pod_volumes: ", volumes: {0}",
    pod_deleted: "Pod {0} was deleted a moment ago.",
    volume_claim: "claim {0}",
    no_claims: "No claims.",
    claim: "Claim {0} is {1}",
    claim_volume: ", volume {0}",
    claim_size: ", {0}, {1}",
    class: ", class {0}",
    claim_deleted: "Claim {0} was deleted a moment ago.",
    no_volumes: "No volumes.",
    volume: "Volume {0} is {1}, {2}",
    volume_bound: ", claim {0}",
    volume_policy: ", reclaim policy {0}",
    volume_deleted: "Volume {0} was deleted a moment ago.",
    and_more: "And {0} more.",
    shell_opening: "Opening the course shell. Type exit to come back here.",
    shell_back: "Back in the course.",
    shell_failed: "The shell could not run: {0}",
    shell_unavailable: "This kubetutor has no shell command. In another terminal, run: {0}",
    unknown: "Unknown command: {0}. Type help for the commands.",
    help_title: "Commands, typed on their own line:",
    help: [
        ("next, or Enter alone", "the next paragraph"),
        (
            "next step, previous step",
            "the next or previous step, in full",
        ),
        ("next lesson, previous lesson", "n  p"),
        ("previous", "the previous paragraph"),
        ("step", "the current step, in full"),
        (
            "steps",
            "the checklist, with each step's state and what it waits for",
        ),
        ("read", "the whole lesson"),
        ("hint", "h"),
        ("solution", "s"),
        ("answer b", "a"),
        ("lessons", "l"),
        ("lesson 3", "open lesson 3"),
        ("copy", "copy the code block you read last"),
        ("cluster", "pods, claims and volumes, in short sentences"),
        ("shell", "a shell set up for the course; exit comes back"),
        ("help", "?"),
        ("quit", "q  Ctrl-C"),
    ],
    lab: "Lab directory: {0}",
    bye: "Bye. Your progress is saved.",
    save_failed: "Note: {0}",
};

static FR: Words = Words {
    welcome: "kubetutor, mode texte. Tapez aide pour les commandes, quitter pour sortir. Entrée seule lit la suite.",
    connected: "Cluster : connecté à {0}, namespace {1}.",
    connecting: "Cluster : connexion.",
    reconnecting: "Connexion au cluster perdue, reconnexion : {0}",
    connection_back: "La connexion au cluster est revenue.",
    connection_failed: "Connexion au cluster impossible : {0}",
    note: "À noter : {0}",
    lesson_header: "Leçon {0} sur {1} : {2}. Environ {3} minutes, {4} étapes faites sur {5}.",
    step_heading: "Étape {0} sur {1}, {2} : {3}",
    states: ["à faire", "en cours", "faite", "en échec"],
    code: "Code :",
    image: "image : {0}",
    hint: "Indice {0} sur {1} :",
    hint_labelled: "Indice {0} sur {1}, {2} :",
    solution: "Solution :",
    quiz_prompt: "Pour répondre, tapez répondre et la lettre, par exemple : répondre b.",
    quiz_prompt_many: "Plusieurs réponses sont justes : tapez répondre et chaque bonne lettre, par exemple : répondre a c.",
    quiz_right_choice: "Bonne réponse : {0}.",
    step_done: "Étape {0} réussie : {1}.",
    step_next: "Ensuite, étape {0} sur {1} : {2}. Tapez étape pour la lire.",
    lesson_complete: "Leçon terminée : {0}. Tapez leçon suivante pour continuer.",
    lesson_complete_last: "Leçon terminée. C'était la dernière leçon du cours.",
    waiting: "Étape {0} : en attente — {1}",
    failing: "Étape {0} : en échec — {1}",
    live_hint: "Indice : {0}",
    end_of_lesson: "Fin de la leçon. Tapez étapes pour la liste, ou leçon suivante.",
    start_of_lesson: "C'est le début de la leçon.",
    no_next_step: "C'est la dernière étape de la leçon.",
    no_previous_step: "C'est la première étape de la leçon.",
    last_lesson: "C'est la dernière leçon.",
    first_lesson: "C'est la première leçon.",
    all_done: "Toutes les étapes de cette leçon sont faites.",
    steps_title: "Étapes de la leçon {0} sur {1}, {2} :",
    steps_row: "Étape {0} sur {1}, {2} : {3}.",
    steps_reason: "  En attente de : {0}",
    no_hints: "Cette étape n'a pas d'indice.",
    no_more_hints: "Plus d'indice pour cette étape. Tapez solution pour voir la solution.",
    no_solution: "Cette étape n'a pas de solution à afficher.",
    solution_question: "Afficher la solution de l'étape {0}, {1} ? Essayer d'abord avec les indices apprend davantage. Tapez oui pour l'afficher, autre chose pour continuer.",
    solution_not_shown: "La solution n'est pas affichée.",
    not_a_quiz: "L'étape en cours n'est pas une question : faites-la dans le cluster.",
    answer_usage: "Tapez répondre et la lettre choisie, par exemple : répondre b.",
    answer_bad: "Il n'y a pas de choix {0} : les choix vont de a à {1}.",
    answer_one: "Cette question a une seule bonne réponse : donnez une lettre.",
    right: "Bonne réponse !",
    wrong: "Pas tout à fait : réessayez.",
    wrong_many: "Pas tout à fait : {0} réponses sont justes, réessayez.",
    lessons_title: "Leçons :",
    lessons_row: "Leçon {0} : {1}. {2} minutes, {3} étapes faites sur {4}.",
    lessons_current: "C'est la leçon ouverte.",
    no_such_lesson: "Il n'y a pas de leçon {0}. Tapez leçons pour la liste.",
    lesson_usage: "Tapez leçon et son numéro, par exemple : leçon 2.",
    no_lessons: "Le cours n'a pas de leçon dans cette langue.",
    copied: "Bloc de code copié dans le presse-papiers, {0} ligne(s).",
    copy_no_terminal: "Le presse-papiers passe par le terminal, et la sortie ne va pas vers un terminal qui le permet. Voici le bloc de code :",
    no_code: "Aucun bloc de code lu dans cette leçon. Tapez suivant pour lire la suite.",
    cluster_title: "Cluster, namespace {0} :",
    cluster_reading: "Lecture du cluster, réessayez dans un instant.",
    cluster_not_connected: "Pas de connexion au cluster.",
    no_pods: "Aucun pod dans le namespace {0}.",
    pod: "Le pod {0} est {1}, {2} sur {3} prêt(s)",
    pod_terminating: ", en cours d'arrêt",
    pod_restarts: ", {0} redémarrage(s)",
    pod_volumes: ", volumes : {0}",
    pod_deleted: "Le pod {0} vient d'être supprimé.",
    volume_claim: "demande {0}",
    no_claims: "Aucune demande de volume.",
    claim: "La demande de volume {0} est {1}",
    claim_volume: ", volume {0}",
    claim_size: ", {0}, {1}",
    class: ", classe {0}",
    claim_deleted: "La demande de volume {0} vient d'être supprimée.",
    no_volumes: "Aucun volume.",
    volume: "Le volume {0} est {1}, {2}",
    volume_bound: ", demande {0}",
    volume_policy: ", politique de récupération {0}",
    volume_deleted: "Le volume {0} vient d'être supprimé.",
    and_more: "Et {0} de plus.",
    shell_opening: "Ouverture du shell du cours. Tapez exit pour revenir ici.",
    shell_back: "De retour dans le cours.",
    shell_failed: "Le shell n'a pas pu démarrer : {0}",
    shell_unavailable: "Ce kubetutor n'a pas de commande shell. Dans un autre terminal, lancez : {0}",
    unknown: "Commande inconnue : {0}. Tapez aide pour les commandes.",
    help_title: "Commandes, chacune sur sa ligne :",
    help: [
        ("suivant, ou Entrée seule", "le paragraphe suivant"),
        (
            "étape suivante, étape précédente",
            "l'étape suivante ou précédente, en entier",
        ),
        ("leçon suivante, leçon précédente", "n  p"),
        ("précédent", "le paragraphe précédent"),
        ("étape", "l'étape en cours, en entier"),
        (
            "étapes",
            "la liste des étapes, avec leur état et ce qu'elles attendent",
        ),
        ("lire", "toute la leçon"),
        ("indice", "h"),
        ("solution", "s"),
        ("répondre b", "a"),
        ("leçons", "l"),
        ("leçon 3", "ouvrir la leçon 3"),
        ("copier", "copier le dernier bloc de code lu"),
        ("cluster", "pods, demandes et volumes, en phrases courtes"),
        ("shell", "un shell préparé pour le cours ; exit revient ici"),
        ("aide", "?"),
        ("quitter", "q  Ctrl-C"),
    ],
    lab: "Répertoire de travail : {0}",
    bye: "Au revoir. Votre progression est enregistrée.",
    save_failed: "À noter : {0}",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_fill_the_same_placeholders() {
        // A template that takes {n} in one language takes it in the other.
        let count = |t: &str| (0..6).filter(|i| t.contains(&format!("{{{i}}}"))).count();
        let pairs = [
            (EN.lesson_header, FR.lesson_header),
            (EN.step_heading, FR.step_heading),
            (EN.step_done, FR.step_done),
            (EN.step_next, FR.step_next),
            (EN.waiting, FR.waiting),
            (EN.failing, FR.failing),
            (EN.steps_row, FR.steps_row),
            (EN.lessons_row, FR.lessons_row),
            (EN.solution_question, FR.solution_question),
            (EN.pod, FR.pod),
            (EN.claim, FR.claim),
            (EN.volume, FR.volume),
            (EN.answer_bad, FR.answer_bad),
        ];
        for (en, fr) in pairs {
            assert_eq!(count(en), count(fr), "{en} / {fr}");
        }
    }
}
