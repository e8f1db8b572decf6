//! Network applets over the pod's network (Services by name, pods by IP,
//! `localhost`): `wget` (HTTP/1.1 GET, busybox's progress lines and
//! errors) and `nslookup` (cluster DNS names to Service IPs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Abort, Ctx, Ret};
use crate::network::podnet::Dial;

/// The cluster DNS server the kubelet puts in resolv.conf.
const DNS_SERVER: &str = "10.96.0.10";

/// The search domains of the pod (from its /etc/resolv.conf).
fn search_domains(ctx: &Ctx) -> Vec<String> {
    ctx.vfs()
        .read_all("/etc/resolv.conf", ctx.sys.procs.memory())
        .map(|(d, _)| {
            String::from_utf8_lossy(&d)
                .lines()
                .find_map(|l| l.strip_prefix("search "))
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn resolve(ctx: &Ctx, host: &str, port: u16) -> Dial {
    match &ctx.sys.network {
        Some(n) => n.dial(host, port),
        None => {
            if matches!(host, "localhost" | "127.0.0.1") {
                Dial::Refused {
                    ip: "127.0.0.1".into(),
                }
            } else {
                Dial::NoSuchHost
            }
        }
    }
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Option<Url> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| (!url.contains("://")).then_some(url))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (hostport.to_string(), 80),
    };
    if host.is_empty() {
        return None;
    }
    Some(Url { host, port, path })
}

// Long: busybox wget's option parsing, then one HTTP exchange per
// redirect (connect, head, body with length or chunks, progress lines),
// sharing the connection and the output state.
pub fn wget(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut quiet = false;
    let mut output: Option<String> = None;
    let mut spider = false;
    let mut timeout = Duration::from_secs(30);
    let mut headers_out = false;
    let mut urls = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        match a.as_str() {
            "-q" | "--quiet" => quiet = true,
            "-O" => {
                output = args.get(i).cloned();
                i += 1;
            }
            "-T" => {
                timeout = args
                    .get(i)
                    .and_then(|t| t.parse::<u64>().ok())
                    .map_or(timeout, Duration::from_secs);
                i += 1;
            }
            "--spider" => spider = true,
            "-S" | "--server-response" => headers_out = true,
            "-qO-" | "-qO" => {
                quiet = true;
                output = Some(if a == "-qO-" {
                    "-".into()
                } else {
                    args.get(i).cloned().unwrap_or_default()
                });
                if a == "-qO" {
                    i += 1;
                }
            }
            s if s.starts_with("-O") => output = Some(s[2..].to_string()),
            s if s.starts_with("--timeout=") => {
                timeout = s[10..].parse::<u64>().map_or(timeout, Duration::from_secs);
            }
            s if s.starts_with('-') && s.len() > 1 && !s.starts_with("--") => {
                for c in s[1..].chars() {
                    match c {
                        'q' => quiet = true,
                        'S' => headers_out = true,
                        'c' | 'N' => {}
                        other => return ctx.bad_option(&other.to_string()),
                    }
                }
            }
            s if s.starts_with("--") => {}
            url => urls.push(url.to_string()),
        }
    }
    let Some(url) = urls.first().cloned() else {
        ctx.usage("wget [-cqS] [--spider] [-O FILE] [-T SEC] URL...");
        return Ok(1);
    };
    if url.starts_with("https://") {
        ctx.fail("TLS is not emulated by the sandbox: use http:// to reach a Service");
        return Ok(1);
    }
    let Some(mut u) = parse_url(&url) else {
        ctx.fail(&format!("not an http or ftp url: {url}"));
        return Ok(1);
    };
    for _redirect in 0..20 {
        let (addr, ip) = match resolve(ctx, &u.host, u.port) {
            Dial::Open { addr, ip } => (addr, ip),
            Dial::NoSuchHost => {
                ctx.fail(&format!("bad address '{}'", u.host));
                return Ok(1);
            }
            Dial::Refused { ip } => {
                if !quiet {
                    ctx.errs(&format!(
                        "Connecting to {}:{} ({ip}:{})\n",
                        u.host, u.port, u.port
                    ));
                }
                ctx.fail(&format!(
                    "can't connect to remote host ({ip}): Connection refused"
                ));
                return Ok(1);
            }
        };
        if !quiet {
            ctx.errs(&format!(
                "Connecting to {}:{} ({ip}:{})\n",
                u.host, u.port, u.port
            ));
        }
        let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            Err(_) => {
                ctx.fail(&format!(
                    "can't connect to remote host ({ip}): Connection refused"
                ));
                return Ok(1);
            }
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let method = if spider { "HEAD" } else { "GET" };
        let req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n",
            u.path, u.host, u.port
        );
        if stream.write_all(req.as_bytes()).is_err() {
            ctx.fail("error getting response: Connection reset by peer");
            return Ok(1);
        }
        // Read the head.
        let started = Instant::now();
        let mut head = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let body_start;
        loop {
            ctx.check()?;
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body_start = i + 4;
                break;
            }
            if head.len() > 64 * 1024 || started.elapsed() > timeout {
                ctx.fail("download timed out");
                return Ok(1);
            }
            match stream.read(&mut buf) {
                Ok(0) => {
                    ctx.fail("error getting response: Connection reset by peer");
                    return Ok(1);
                }
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    ctx.fail("error getting response: Connection reset by peer");
                    return Ok(1);
                }
            }
        }
        let head_text = String::from_utf8_lossy(&head[..body_start]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or("").to_string();
        let code: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        if headers_out {
            ctx.errs(&format!("  {status_line}\n"));
            for l in head_text.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
                ctx.errs(&format!("  {l}\n"));
            }
        }
        let header = |k: &str| {
            headers
                .iter()
                .find(|(hk, _)| hk == k)
                .map(|(_, v)| v.clone())
        };
        if (300..400).contains(&code)
            && let Some(loc) = header("location")
        {
            match parse_url(&loc) {
                Some(next) => u = next,
                None => {
                    u = Url {
                        host: u.host.clone(),
                        port: u.port,
                        path: loc,
                    };
                }
            }
            continue;
        }
        if !(200..300).contains(&code) {
            ctx.fail(&format!("server returned error: {status_line}"));
            return Ok(1);
        }
        if spider {
            if !quiet {
                ctx.errs("remote file exists\n");
            }
            return Ok(0);
        }
        let name = output.clone().unwrap_or_else(|| {
            let last = u
                .path
                .split('?')
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("");
            if last.is_empty() {
                "index.html".to_string()
            } else {
                last.to_string()
            }
        });
        let to_stdout = name == "-";
        let target = if to_stdout {
            ctx.fds.get_or_null(1)
        } else {
            match ctx.vfs().open_write(&name, false, false) {
                Ok(fd) => fd,
                Err(e) => {
                    ctx.fail(&format!("can't open '{name}': {}", super::errno(&e)));
                    return Ok(1);
                }
            }
        };
        if !quiet {
            if to_stdout {
                ctx.errs("writing to stdout\n");
            } else {
                ctx.errs(&format!("saving to '{name}'\n"));
            }
        }
        let length: Option<u64> = header("content-length").and_then(|l| l.parse().ok());
        let chunked =
            header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        let mut body = head[body_start..].to_vec();
        let mut total: u64 = 0;
        let mut done = false;
        let mut raw_chunked = Vec::new();
        let write = |ctx: &Ctx, data: &[u8]| -> Result<(), Abort> {
            if to_stdout {
                ctx.out(data)
            } else {
                target.write_all(data, &|| false).map_err(|e| {
                    ctx.fail(&format!("write error: {}", super::errno(&e)));
                    Abort::Exit(1)
                })
            }
        };
        loop {
            if chunked {
                raw_chunked.extend_from_slice(&body);
                // Decode complete chunks.
                while let Some(i) = raw_chunked.windows(2).position(|w| w == b"\r\n") {
                    let size_text = String::from_utf8_lossy(&raw_chunked[..i]).into_owned();
                    let Ok(size) =
                        usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    else {
                        done = true;
                        break;
                    };
                    if size == 0 {
                        done = true;
                        break;
                    }
                    if raw_chunked.len() < i + 2 + size + 2 {
                        break;
                    }
                    write(ctx, &raw_chunked[i + 2..i + 2 + size])?;
                    total += size as u64;
                    raw_chunked.drain(..i + 2 + size + 2);
                }
            } else if !body.is_empty() {
                let take = match length {
                    Some(l) => body.len().min((l - total) as usize),
                    None => body.len(),
                };
                write(ctx, &body[..take])?;
                total += take as u64;
                if length.is_some_and(|l| total >= l) {
                    done = true;
                }
            } else if length == Some(0) {
                done = true;
            }
            if done {
                break;
            }
            ctx.check()?;
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => body = buf[..n].to_vec(),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    body.clear();
                    if started.elapsed() > timeout * 10 {
                        ctx.fail("download timed out");
                        return Ok(1);
                    }
                }
                Err(_) => break,
            }
        }
        if !quiet {
            let shown = if to_stdout {
                "-".to_string()
            } else {
                name.clone()
            };
            ctx.errs(&format!(
                "{shown:<20} 100% |********************************| {total:>5}  0:00:00 ETA\n"
            ));
            if to_stdout {
                ctx.errs("written to stdout\n");
            } else {
                ctx.errs(&format!("'{name}' saved\n"));
            }
        }
        return Ok(0);
    }
    ctx.fail("too many redirections");
    Ok(1)
}

pub fn nslookup(ctx: &mut Ctx, args: &[String]) -> Ret {
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let Some(name) = names.first() else {
        ctx.usage("nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]");
        return Ok(1);
    };
    let mut out = format!("Server:\t\t{DNS_SERVER}\nAddress:\t{DNS_SERVER}:53\n\n");
    let name = name.trim_end_matches('.');
    let candidates: Vec<String> = if name.contains('.') && name.ends_with("cluster.local") {
        vec![name.to_string()]
    } else {
        let mut c: Vec<String> = search_domains(ctx)
            .iter()
            .map(|d| format!("{name}.{d}"))
            .collect();
        c.push(name.to_string());
        c
    };
    let ip = if name.parse::<std::net::IpAddr>().is_ok() {
        None
    } else {
        match resolve(ctx, name, 1) {
            Dial::Open { ip, .. } | Dial::Refused { ip } if ip != "None" && !ip.is_empty() => {
                Some(ip)
            }
            _ => None,
        }
    };
    match ip {
        Some(ip) => {
            // The first search domain that names it (a Service's FQDN).
            let fqdn = candidates
                .iter()
                .find(|c| c.ends_with(".svc.cluster.local") && c.matches('.').count() >= 4)
                .cloned()
                .unwrap_or_else(|| {
                    if matches!(name, "localhost") {
                        "localhost".to_string()
                    } else {
                        candidates[0].clone()
                    }
                });
            out.push_str(&format!("Name:\t{fqdn}\nAddress: {ip}\n\n"));
            ctx.outs(&out)?;
            Ok(0)
        }
        None => {
            for c in &candidates {
                out.push_str(&format!("** server can't find {c}: NXDOMAIN\n\n"));
            }
            ctx.outs(&out)?;
            Ok(1)
        }
    }
}
