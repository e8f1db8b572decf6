//! Userlands of the images the sandbox knows: lookups, merged /usr, the
//! programs and files images add.

use crate::shell::userland::*;

#[test]
fn images_and_lookups() {
    let bb = crate::images::userland("busybox:1.36");
    assert_eq!(
        bb.lookup("ls", bb.path).map(|l| l.0),
        Some("/bin/ls".into())
    );
    assert!(bb.lookup("bash", bb.path).is_none());
    assert!(bb.by_path("/bin/sh").is_some());
    let alpine = crate::images::userland("python:3.12-alpine");
    assert_eq!(
        alpine.lookup("wc", alpine.path).map(|l| l.0),
        Some("/usr/bin/wc".into())
    );
    let ubuntu = crate::images::userland("ubuntu:24.04");
    assert_eq!(ubuntu.flavor, Flavor::Gnu);
    assert!(ubuntu.by_path("/bin/bash").is_some(), "merged /usr");
    assert!(ubuntu.lookup("ps", ubuntu.path).is_none());
    assert!(matches!(
        ubuntu.by_path("/bin/sh"),
        Some(ProgramKind::Shell(ShellKind::Dash))
    ));
    let web = crate::images::userland("nginx:1.27");
    assert_eq!(
        web.lookup("nginx", web.path).map(|l| l.0),
        Some("/usr/sbin/nginx".into())
    );
    let layer = tempfile::tempdir().unwrap();
    web.seed(layer.path());
    let passwd = std::fs::read_to_string(layer.path().join("etc/passwd")).unwrap();
    assert!(passwd.contains("\nnginx:x:101:101:"), "{passwd}");
    assert!(layer.path().join("etc/nginx/nginx.conf").is_file());
    assert!(layer.path().join("var/cache/nginx").is_dir());
    let pg = crate::images::userland("postgres:16");
    assert!(pg.lookup("psql", pg.path).is_some());
    assert!(
        crate::images::userland("postgrest/postgrest:v12")
            .lookup("sh", "/bin")
            .is_none()
    );
    let tmp = tempfile::tempdir().unwrap();
    ubuntu.seed(tmp.path());
    let text = std::fs::read_to_string(tmp.path().join("etc/os-release")).unwrap();
    assert!(text.contains("ID=ubuntu"));
}
