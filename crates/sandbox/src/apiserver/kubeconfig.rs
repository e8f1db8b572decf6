//! The kubeconfig file for the sandbox: written atomically, mode 0600,
//! with cluster, user and context all named `kubetutor-sandbox`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

/// The name of the cluster, user and context.
pub const CONTEXT: &str = "kubetutor-sandbox";
/// The namespace the context points at.
pub const NAMESPACE: &str = "kubetutor";

/// The kubeconfig text: the HTTPS server with its CA, and the bearer token.
pub fn render(addr: SocketAddr, token: &str, ca_pem: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\n\
kind: Config\n\
clusters:\n\
- name: {CONTEXT}\n\
\x20 cluster:\n\
\x20   server: https://{addr}\n\
\x20   certificate-authority-data: {ca}\n\
users:\n\
- name: {CONTEXT}\n\
\x20 user:\n\
\x20   token: {token}\n\
contexts:\n\
- name: {CONTEXT}\n\
\x20 context:\n\
\x20   cluster: {CONTEXT}\n\
\x20   user: {CONTEXT}\n\
\x20   namespace: {NAMESPACE}\n\
current-context: {CONTEXT}\n\
preferences: {{}}\n"
    )
}

/// Writes `text` to `path` atomically (temporary file, fsync, rename) with mode 0600.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("the kubeconfig path has no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kubeconfig"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let result = (|| -> anyhow::Result<()> {
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| {
            format!(
                "cannot move the kubeconfig into place at {}",
                path.display()
            )
        })?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_writes_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kubeconfig");
        let text = render("127.0.0.1:1234".parse().unwrap(), "abc", "PEM");
        assert!(text.contains("server: https://127.0.0.1:1234"));
        assert!(text.contains("namespace: kubetutor"));
        write_private(&p, &text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let parsed: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(parsed["current-context"], CONTEXT);
        assert_eq!(parsed["users"][0]["user"]["token"], "abc");
        assert_eq!(
            parsed["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
    }
}
