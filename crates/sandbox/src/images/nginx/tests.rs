//! The emulated nginx image end to end: entrypoint, configuration, static
//! files, error pages, logs, `nginx -t` and `nginx -s reload`.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::images::tests::Harness;
use crate::images::{AppContext, start};

/// A started nginx container over a fresh layer with the image's files.
async fn started(h: &Harness, pod: &str, image: &str) -> (AppContext, crate::images::AppHandle) {
    let mut ctx = h.ctx(pod, "web", image, &[]);
    ctx.command = Vec::new();
    crate::images::userland(&ctx.image).seed(ctx.fs.rootfs());
    let handle = start(Box::new(Nginx::new(true)), ctx.clone());
    (ctx, handle)
}

async fn wait_port(h: &Harness, pod: &str, port: u16) -> std::net::SocketAddr {
    for _ in 0..400 {
        if let Some(a) = h.netns.lookup(pod, port) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on {port}");
}

/// One request, `Connection: close`: the status line, headers and body.
async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = buf[split + 4..].to_vec();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head, body)
}

async fn log_has(h: &Harness, needle: &str) -> Vec<String> {
    for _ in 0..300 {
        let log = h.log();
        if log.iter().any(|l| l.contains(needle)) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no log line with {needle:?} in {:#?}", h.log());
}

#[tokio::test]
async fn serves_the_welcome_page_and_logs_as_the_image_does() {
    let h = Harness::new();
    let (ctx, handle) = started(&h, "p1", "nginx:1.27.4").await;
    let addr = wait_port(&h, "p1", 80).await;
    let (code, head, body) = get(addr, "GET", "/").await;
    assert_eq!(code, 200);
    assert_eq!(body, files::INDEX_HTML.as_bytes());
    assert!(head.contains("\r\nServer: nginx/1.27.4\r\n"), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: text/html"),
        "{head}"
    );
    assert!(
        head.to_lowercase().contains("content-length: 615"),
        "{head}"
    );
    let log = log_has(&h, "\"GET / HTTP/1.1\" 200 615").await;
    assert_eq!(
        log[0],
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    );
    assert!(log.contains(&"10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf".to_string()));
    assert!(log.contains(
        &"/docker-entrypoint.sh: Configuration complete; ready for start up".to_string()
    ));
    assert!(
        log.iter()
            .any(|l| l.ends_with("[notice] 1#1: nginx/1.27.4"))
    );
    assert!(
        log.iter()
            .any(|l| l.ends_with("[notice] 1#1: start worker process 29"))
    );
    let access = log
        .iter()
        .find(|l| l.contains("\"GET / HTTP/1.1\""))
        .unwrap();
    assert!(access.starts_with("127.0.0.1 - - ["), "{access}");
    assert!(
        access.ends_with("] \"GET / HTTP/1.1\" 200 615 \"-\" \"curl/8.5.0\" \"-\""),
        "{access}"
    );
    // The entrypoint really changed the file.
    let conf = std::fs::read_to_string(
        ctx.fs
            .resolve("/", "/etc/nginx/conf.d/default.conf")
            .unwrap()
            .host,
    )
    .unwrap();
    assert!(conf.contains("listen  [::]:80;"));

    // 404 with nginx's page and its error log line.
    let (code, _, body) = get(addr, "GET", "/nope.html").await;
    assert_eq!(code, 404);
    assert_eq!(body, serve::error_page(404, "1.27.4").as_bytes());
    log_has(&h, "open() \"/usr/share/nginx/html/nope.html\" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: \"GET /nope.html HTTP/1.1\", host: \"localhost:8080\"").await;

    // A directory: 301 to its slash, then 403 without an index.
    let html = ctx.fs.resolve("/", "/usr/share/nginx/html").unwrap().host;
    std::fs::create_dir_all(html.join("docs")).unwrap();
    let (code, head, _) = get(addr, "GET", "/docs").await;
    assert_eq!(code, 301);
    assert!(head.contains("ocation: http://localhost/docs/"), "{head}");
    let (code, _, _) = get(addr, "GET", "/docs/").await;
    assert_eq!(code, 403);
    log_has(
        &h,
        "directory index of \"/usr/share/nginx/html/docs/\" is forbidden",
    )
    .await;
    std::fs::write(html.join("docs/index.html"), "<p>docs</p>\n").unwrap();
    std::fs::write(html.join("docs/data.json"), "{}").unwrap();
    let (code, _, body) = get(addr, "GET", "/docs/").await;
    assert_eq!((code, body), (200, b"<p>docs</p>\n".to_vec()));
    let (code, head, _) = get(addr, "GET", "/docs/data.json").await;
    assert_eq!(code, 200);
    assert!(
        head.to_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let (code, _, _) = get(addr, "POST", "/docs/data.json").await;
    assert_eq!(code, 405);

    // SIGTERM: nginx exits 0 with its notices.
    assert_eq!(handle.stop().await, 0);
    log_has(&h, "signal 15 (SIGTERM) received, exiting").await;
}

#[tokio::test]
async fn a_custom_configuration_serves_a_volume_and_reloads() {
    let h = Harness::new();
    let mut ctx = h.ctx("p2", "web", "nginx:alpine", &[]);
    ctx.command = Vec::new();
    crate::images::userland(&ctx.image).seed(ctx.fs.rootfs());
    let conf = ctx
        .fs
        .resolve("/", "/etc/nginx/conf.d/default.conf")
        .unwrap()
        .host;
    std::fs::write(
        &conf,
        "server {\n  listen 8080;\n  root /data;\n  location /api/ { return 200 'pong'; }\n}\n",
    )
    .unwrap();
    let data = ctx.fs.resolve("/", "/data").unwrap().host;
    std::fs::write(data.join("index.html"), "from the volume\n").unwrap();
    let handle = start(Box::new(Nginx::new(true)), ctx.clone());
    let addr = wait_port(&h, "p2", 8080).await;
    let (code, _, body) = get(addr, "GET", "/").await;
    assert_eq!((code, body), (200, b"from the volume\n".to_vec()));
    let (code, _, body) = get(addr, "GET", "/api/x").await;
    assert_eq!((code, body), (200, b"pong".to_vec()));
    assert!(h.log().contains(&"10-listen-on-ipv6-by-default.sh: info: /etc/nginx/conf.d/default.conf differs from the packaged version".to_string()));

    // nginx -t finds a mistake; a reload keeps the running configuration.
    std::fs::write(&conf, "server {\n  listen 8081\n}\n").unwrap();
    let (_, err, code) = program("nginx:alpine", &["-t".into()], &ctx.fs, None);
    assert_eq!(code, 1);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "nginx: [emerg] directive \"listen\" is not terminated by \";\" in /etc/nginx/conf.d/default.conf:3\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"
    );
    let (_, _, code) = program(
        "nginx:alpine",
        &["-s".into(), "reload".into()],
        &ctx.fs,
        None,
    );
    assert_eq!(code, 0);
    log_has(&h, "[emerg] 1#1: directive \"listen\" is not terminated").await;
    assert!(h.netns.lookup("p2", 8080).is_some());

    // A good configuration: reload moves the server to 8081.
    std::fs::write(&conf, "server {\n  listen 8081;\n  root /data;\n}\n").unwrap();
    let (_, err, code) = program("nginx:alpine", &["-t".into()], &ctx.fs, None);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    program(
        "nginx:alpine",
        &["-s".into(), "reload".into()],
        &ctx.fs,
        None,
    );
    let addr = wait_port(&h, "p2", 8081).await;
    let (code, _, _) = get(addr, "GET", "/").await;
    assert_eq!(code, 200);
    log_has(
        &h,
        "[notice] 1#1: signal 1 (SIGHUP) received from 47, reconfiguring",
    )
    .await;
    for _ in 0..100 {
        if h.netns.lookup("p2", 8080).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        h.netns.lookup("p2", 8080).is_none(),
        "the old port is closed"
    );
    drop(handle);
}

#[tokio::test]
async fn a_broken_configuration_exits_1_with_nginxs_message() {
    let h = Harness::new();
    let mut ctx = h.ctx("p3", "web", "nginx", &[]);
    ctx.command = Vec::new();
    crate::images::userland(&ctx.image).seed(ctx.fs.rootfs());
    let conf = ctx
        .fs
        .resolve("/", "/etc/nginx/conf.d/default.conf")
        .unwrap()
        .host;
    std::fs::write(&conf, "server {\n  listen 80;\n  lisen 81;\n}\n").unwrap();
    let code = start(Box::new(Nginx::new(true)), ctx).wait().await;
    assert_eq!(code, 1);
    assert_eq!(
        h.log().last().unwrap(),
        "nginx: [emerg] unknown directive \"lisen\" in /etc/nginx/conf.d/default.conf:3"
    );
}

#[test]
fn versions_and_envsubst() {
    assert_eq!(version_of("nginx"), DEFAULT_VERSION);
    assert_eq!(version_of("nginx:1.27.4-alpine"), "1.27.4");
    assert_eq!(version_of("nginx:alpine"), DEFAULT_VERSION);
    assert_eq!(version_of("nginx:1.27"), "1.27.5");
    assert_eq!(version_of("nginx:1.27-alpine"), "1.27.5");
    assert_eq!(version_of("nginx:stable-alpine"), "1.28.0");
    assert_eq!(
        version_of("docker.io/library/nginx:1.25.3@sha256:ab"),
        "1.25.3"
    );
    assert_eq!(version_of("localhost:5000/nginx"), DEFAULT_VERSION);
    let env = vec![("PORT".to_string(), "8080".to_string())];
    assert_eq!(
        envsubst("listen ${PORT}; $host $PORT", &env),
        "listen 8080; $host 8080"
    );
    assert!(runs_nginx(&[]));
    assert!(runs_nginx(&[
        "nginx".into(),
        "-g".into(),
        "daemon off;".into()
    ]));
    assert!(!runs_nginx(&["sh".into()]));
}

#[tokio::test]
async fn a_read_only_root_filesystem_stops_nginx_as_it_does() {
    let h = Harness::new();
    let mut ctx = h.ctx("p4", "web", "nginx", &[]);
    ctx.command = Vec::new();
    crate::images::userland(&ctx.image).seed(ctx.fs.rootfs());
    ctx.fs.set_read_only_root(true);
    let code = start(Box::new(Nginx::new(true)), ctx).wait().await;
    assert_eq!(code, 1);
    let log = h.log();
    assert!(log.contains(&"10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)".to_string()), "{log:#?}");
    assert_eq!(
        log.last().unwrap(),
        "nginx: [emerg] mkdir() \"/var/cache/nginx/client_temp\" failed (30: Read-only file system)"
    );
}
