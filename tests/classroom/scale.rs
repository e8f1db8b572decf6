//! A hundred learners reporting at once: every one of them is in the
//! roster the grid draws, and every step change arrives. (How fast, and
//! what it costs the server: `cargo bench --bench classroom`.)

use crate::sim::{CODE, Learner, Server, step_of};
use kubetutor::classroom::learner::ClassroomEvent;
use kubetutor::classroom::roster::Roster;
use kubetutor::classroom::tls;

const LEARNERS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_learners_at_once() {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;
    let mut learners: Vec<Learner> = (0..LEARNERS)
        .map(|i| Learner::join(server.target(CODE), &format!("learner-{i:03}")))
        .collect();
    for l in &mut learners {
        assert!(matches!(l.next().await, ClassroomEvent::Joined { .. }));
        l.at(1, None);
    }
    server
        .wait("every learner on step a", |r| {
            r.learners.len() == LEARNERS
                && r.learners
                    .keys()
                    .all(|n| step_of(r, n).as_deref() == Some("a"))
        })
        .await;
    assert_eq!(server.class.roster().connected_count(), LEARNERS);
    // Everyone moves on together.
    for l in &mut learners {
        l.at(2, Some("waiting for the claim"));
    }
    server
        .wait("every learner on step b", |r| {
            r.learners
                .keys()
                .all(|n| step_of(r, n).as_deref() == Some("b"))
        })
        .await;
    assert_eq!(
        server.class.roster().done_counts("l1", &["a", "b", "c"]),
        vec![LEARNERS, 0, 0]
    );
    server.stop().await;
}
