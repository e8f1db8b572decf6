//! Learners and the classroom server: joining, reporting, messages,
//! holds, the server going away and coming back, and what the server
//! refuses.

use crate::sim::{CODE, Learner, Server, step_of};
use kubetutor::classroom::learner::ClassroomEvent;
use kubetutor::classroom::protocol::{self, ToLearner, ToServer};
use kubetutor::classroom::roster::Roster;
use kubetutor::classroom::tls;
use kubetutor::progress::StepState;
use tokio::io::AsyncWriteExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_join_report_and_see_only_their_own_news() {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;
    let mut ana = Learner::join(server.target(CODE), "ana");
    let mut bob = Learner::join(server.target(CODE), "bob");
    for l in [&mut ana, &mut bob] {
        let ev = l.next().await;
        assert!(matches!(ev, ClassroomEvent::Joined { .. }), "{ev:?}");
    }
    ana.at(2, Some("claim data is Pending"));
    bob.at(1, None);
    server
        .wait("both reports", |r| {
            step_of(r, "ana").as_deref() == Some("b") && step_of(r, "bob").as_deref() == Some("a")
        })
        .await;
    {
        let r = server.class.roster();
        let ana_row = &r.learners["ana"];
        assert!(ana_row.connected);
        assert_eq!(ana_row.reason(), Some("claim data is Pending"));
        assert_eq!(
            ana_row.states("l1", &["a", "b", "c"]),
            vec![StepState::Done, StepState::Failing, StepState::Pending]
        );
        assert_eq!(r.done_counts("l1", &["a", "b", "c"]), vec![1, 0, 0]);
    }
    // A step change reaches the roster.
    ana.at(3, None);
    server
        .wait("ana's next step", |r| {
            step_of(r, "ana").as_deref() == Some("c")
        })
        .await;

    // Messages and holds reach every learner; nothing about other learners does.
    server.class.post("Look at the board").unwrap();
    server.class.hold(Some("l1".into()));
    for l in [&mut ana, &mut bob] {
        let m = l
            .wait_for(|e| matches!(e, ClassroomEvent::Message { .. }))
            .await;
        assert!(
            matches!(m, ClassroomEvent::Message { ref text, .. } if text == "Look at the board")
        );
        let h = l
            .wait_for(|e| matches!(e, ClassroomEvent::Hold { lesson: Some(_) }))
            .await;
        assert_eq!(
            h,
            ClassroomEvent::Hold {
                lesson: Some("l1".into())
            }
        );
    }
    server.class.hold(None);
    let released = ana
        .wait_for(|e| matches!(e, ClassroomEvent::Hold { .. }))
        .await;
    assert_eq!(released, ClassroomEvent::Hold { lesson: None });
    while let Ok(ev) = ana.events.try_recv() {
        let text = format!("{ev:?}");
        assert!(!text.contains("bob"), "ana heard of bob: {text}");
    }

    // A late learner gets the latest message and the current hold on joining.
    server.class.hold(Some("l1".into()));
    let mut cy = Learner::join(server.target(CODE), "cy");
    let mut saw_message = false;
    let mut saw_hold = false;
    while !(saw_message && saw_hold) {
        match cy.next().await {
            ClassroomEvent::Message { text, .. } => saw_message = text == "Look at the board",
            ClassroomEvent::Hold { lesson: Some(l) } => saw_hold = l == "l1",
            _ => {}
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_and_taken_names_are_refused() {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;
    let mut wrong = Learner::join(server.target("ZZZZ-EFGH-JKMN-PQRS"), "eve");
    let ev = wrong.next().await;
    assert!(
        matches!(ev, ClassroomEvent::Refused { ref reason } if reason.contains("wrong join code")),
        "{ev:?}"
    );
    assert!(server.class.roster().learners.is_empty());

    let mut ana = Learner::join(server.target(CODE), "ana");
    assert!(matches!(ana.next().await, ClassroomEvent::Joined { .. }));
    // Another machine, same name, no token: refused.
    let mut other = Learner::join(server.target(CODE), "ana");
    let ev = other.next().await;
    assert!(
        matches!(ev, ClassroomEvent::Refused { ref reason } if reason.contains("already called")),
        "{ev:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_keep_working_while_the_server_is_away_and_resend() {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;
    let port = server.addr.port();
    let target = server.target(CODE);
    let mut ana = Learner::join(target.clone(), "ana");
    assert!(matches!(ana.next().await, ClassroomEvent::Joined { .. }));
    ana.at(1, None);
    server
        .wait("ana's first report", |r| {
            step_of(r, "ana").as_deref() == Some("a")
        })
        .await;

    // The instructor's machine goes away; the learner goes on.
    let kept = server.stop().await;
    let away = ana
        .wait_for(|e| matches!(e, ClassroomEvent::Away { .. }))
        .await;
    assert!(matches!(away, ClassroomEvent::Away { .. }));
    ana.at(3, Some("pod not ready"));

    // Back on the same address, with what it knew: the learner comes back
    // by itself, as the same learner (its token), with its latest report.
    let server = Server::start(port, &material, kept).await;
    ana.wait_for(|e| matches!(e, ClassroomEvent::Joined { .. }))
        .await;
    server
        .wait("the report made while away", |r| {
            step_of(r, "ana").as_deref() == Some("c") && r.learners["ana"].connected
        })
        .await;
    assert_eq!(server.class.roster().learners.len(), 1);
    server.stop().await;
}

/// A raw TLS connection that proves the code, for sending what a real
/// learner never would.
async fn raw_joined(
    server: &Server,
    name: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut tls_stream = tls::connector()
        .unwrap()
        .connect(tls::server_name("127.0.0.1"), tcp)
        .await
        .unwrap();
    let binding = tls::exporter(tls_stream.get_ref().1).unwrap();
    let code = kubetutor::classroom::code::JoinCode::parse(CODE).unwrap();
    let join = ToServer::Join {
        name: name.into(),
        token: None,
        seen_message: 0,
        version: "test".into(),
    };
    kubetutor::classroom::handshake::learner_side(&mut tls_stream, &binding, &code, join)
        .await
        .unwrap();
    tls_stream
}

async fn next_error(
    s: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> (String, bool) {
    loop {
        match protocol::read_frame::<_, ToLearner>(s).await.unwrap() {
            ToLearner::Error { message, fatal, .. } => return (message, fatal),
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_reports_are_refused_and_the_server_goes_on() {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;

    // Not JSON: a clear error, the connection stays.
    let mut s = raw_joined(&server, "mallory").await;
    let junk = b"this is not json";
    s.write_all(&u32::try_from(junk.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    s.write_all(junk).await.unwrap();
    let (msg, fatal) = next_error(&mut s).await;
    assert!(msg.contains("could not be read"), "{msg}");
    assert!(!fatal);

    // A report out of bounds: refused, said why.
    let mut bad = kubetutor::classroom::report::Report::from_status(&crate::sim::doc(1, None), 0);
    bad.lessons[0].steps[0].reason = Some("x".repeat(5000));
    protocol::write_frame(
        &mut s,
        &ToServer::Report {
            report: Box::new(bad),
        },
    )
    .await
    .unwrap();
    let (msg, _) = next_error(&mut s).await;
    assert!(
        msg.contains("report refused") && msg.contains("longer than"),
        "{msg}"
    );

    // Oversized: refused before it is read, and that connection closed.
    s.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
    let (msg, fatal) = next_error(&mut s).await;
    assert!(msg.contains("over the limit"), "{msg}");
    assert!(fatal);

    // The server still takes learners.
    let mut ana = Learner::join(server.target(CODE), "ana");
    assert!(matches!(ana.next().await, ClassroomEvent::Joined { .. }));
    ana.at(2, None);
    server
        .wait("a good report after bad ones", |r| {
            step_of(r, "ana").as_deref() == Some("b")
        })
        .await;
    server.stop().await;
}
