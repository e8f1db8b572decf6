//! `pg_hba.conf`, as PostgreSQL 16 reads and applies it: records of
//! `local`/`host`/`hostssl`/`hostnossl`/`hostgssenc`/`hostnogssenc`, the
//! database and role fields (keywords, comma lists, quoted names, `+group`,
//! `/regex`), addresses (`all`, `samehost`, `samenet`, CIDR, address and
//! mask, host names), the method and its options. The first record that
//! matches a connection decides how it authenticates; none is a refusal.
//!
//! The file the image writes (initdb's records, then the entrypoint's
//! `host all all all scram-sha-256`) is [`image_file`].

use std::net::IpAddr;

/// The largest `pg_hba.conf` read (the file is the learner's to edit).
pub const MAX_FILE: usize = 1024 * 1024;

/// How a connection reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The Unix-domain socket (`local` records).
    Local,
    /// TCP/IP from this address (`host` records).
    Host(IpAddr),
}

impl Origin {
    /// The "host" of PostgreSQL's messages.
    pub fn describe(&self) -> String {
        match self {
            Origin::Local => "[local]".into(),
            Origin::Host(ip) => ip.to_string(),
        }
    }
}

/// An authentication method of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
    ScramSha256,
    Md5,
    Password,
    Peer,
    Ident,
    /// gss, sspi, pam, ldap, radius, cert: valid, but not emulated.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnType {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
    HostGssEnc,
    HostNoGssEnc,
}

/// One name of a database or role field.
#[derive(Debug, Clone)]
enum Name {
    /// A keyword (`all`, `sameuser`, ...), unquoted.
    Keyword(String),
    /// `+role`: members of the role.
    Group(String),
    /// `/regex`.
    Pattern(regex::Regex),
    Literal(String),
}

#[derive(Debug, Clone)]
enum Address {
    All,
    SameHost,
    SameNet,
    Net { addr: IpAddr, bits: u8 },
    HostName(String),
}

/// A parsed record.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    /// The line as written, for the log's "Connection matched" detail.
    pub raw: String,
    conn: ConnType,
    databases: Vec<Name>,
    roles: Vec<Name>,
    address: Option<Address>,
    pub method: Method,
}

/// A parse problem, reported as the server logs it (LOG + CONTEXT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A token of a field, and whether it was quoted.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    quoted: bool,
}

/// Splits a line into fields, each a comma list of tokens. Comments start
/// at an unquoted `#`.
fn fields(line: &str) -> Vec<Vec<Token>> {
    let mut out: Vec<Vec<Token>> = Vec::new();
    let mut field: Vec<Token> = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut pending = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
                pending = true;
            }
            '#' if !in_quotes => break,
            ',' if !in_quotes => {
                field.push(Token {
                    text: std::mem::take(&mut token),
                    quoted,
                });
                quoted = false;
                pending = false;
                // A list goes on after the comma, even across blanks.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            c if c.is_whitespace() && !in_quotes => {
                if pending {
                    field.push(Token {
                        text: std::mem::take(&mut token),
                        quoted,
                    });
                    out.push(std::mem::take(&mut field));
                    quoted = false;
                    pending = false;
                }
            }
            c => {
                token.push(c);
                pending = true;
            }
        }
    }
    if pending || !field.is_empty() {
        field.push(Token {
            text: token,
            quoted,
        });
        out.push(field);
    }
    out
}

/// The names of a database (`groups` false) or role (`groups` true) field.
fn names(
    field: &[Token],
    keywords: &[&str],
    groups: bool,
    line: usize,
) -> Result<Vec<Name>, ParseError> {
    field
        .iter()
        .map(|t| {
            if !t.quoted && keywords.contains(&t.text.as_str()) {
                return Ok(Name::Keyword(t.text.clone()));
            }
            if groups && !t.quoted && let Some(group) = t.text.strip_prefix('+') {
                return Ok(Name::Group(group.to_string()));
            }
            if !t.quoted && t.text.starts_with('@') {
                return Err(ParseError {
                    line,
                    message: format!(
                        "could not open file \"{}\": the kubetutor sandbox does not read included name files",
                        &t.text[1..]
                    ),
                });
            }
            if !t.quoted && let Some(re) = t.text.strip_prefix('/') {
                return regex::Regex::new(re).map(Name::Pattern).map_err(|e| ParseError {
                    line,
                    message: format!("invalid regular expression \"{re}\": {e}"),
                });
            }
            Ok(Name::Literal(t.text.clone()))
        })
        .collect()
}

fn method(name: &str) -> Option<Method> {
    Some(match name {
        "trust" => Method::Trust,
        "reject" => Method::Reject,
        "scram-sha-256" => Method::ScramSha256,
        "md5" => Method::Md5,
        "password" => Method::Password,
        "peer" => Method::Peer,
        "ident" => Method::Ident,
        "gss" | "sspi" | "pam" | "ldap" | "radius" | "cert" => Method::Unsupported(name.into()),
        _ => return None,
    })
}

/// Reads one address field (and the mask field after it, if the
/// address has no `/bits`); returns how many fields it used.
fn address(fields: &[Vec<Token>], line: usize) -> Result<(Address, usize), ParseError> {
    let err = |message: String| ParseError { line, message };
    let Some(field) = fields.first() else {
        return Err(err("end-of-line before IP address specification".into()));
    };
    if field.len() > 1 {
        return Err(err("multiple values specified for host address".into()));
    }
    let token = &field[0];
    let text = token.text.as_str();
    if !token.quoted {
        match text {
            "all" => return Ok((Address::All, 1)),
            "samehost" => return Ok((Address::SameHost, 1)),
            "samenet" => return Ok((Address::SameNet, 1)),
            _ => {}
        }
    }
    let (host, bits) = match text.split_once('/') {
        Some((h, b)) => (h, Some(b)),
        None => (text, None),
    };
    let Ok(addr) = host.parse::<IpAddr>() else {
        if bits.is_none() && !host.is_empty() {
            return Ok((Address::HostName(host.to_ascii_lowercase()), 1));
        }
        return Err(err(format!(
            "invalid IP address \"{host}\": Name or service not known"
        )));
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if let Some(b) = bits {
        let bits = b
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| err(format!("invalid CIDR mask in address \"{text}\"")))?;
        return Ok((Address::Net { addr, bits }, 1));
    }
    // An address without a mask takes the next field as its mask.
    let Some(mask) = fields.get(1).and_then(|f| f.first()) else {
        return Err(err("end-of-line before netmask specification".into()));
    };
    let bits = mask
        .text
        .parse::<IpAddr>()
        .ok()
        .filter(|m| m.is_ipv4() == addr.is_ipv4())
        .and_then(|m| mask_bits(&m))
        .ok_or_else(|| {
            err(format!(
                "invalid IP mask \"{}\": Name or service not known",
                mask.text
            ))
        })?;
    Ok((Address::Net { addr, bits }, 2))
}

/// The prefix length of a contiguous netmask.
fn mask_bits(mask: &IpAddr) -> Option<u8> {
    let bytes: Vec<u8> = match mask {
        IpAddr::V4(m) => m.octets().to_vec(),
        IpAddr::V6(m) => m.octets().to_vec(),
    };
    let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
    let mut expected = Vec::with_capacity(bytes.len());
    for i in 0..bytes.len() as u32 {
        let left = ones.saturating_sub(i * 8).min(8);
        expected.push(if left == 0 { 0 } else { 0xffu8 << (8 - left) });
    }
    (expected == bytes).then_some(ones as u8)
}

fn record(line: usize, raw: &str, fields: &[Vec<Token>]) -> Result<Record, ParseError> {
    let err = |message: &str| ParseError {
        line,
        message: message.to_string(),
    };
    let kind = &fields[0];
    if kind.len() > 1 {
        return Err(err("multiple values specified for connection type"));
    }
    let conn = match kind[0].text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => ConnType::HostSsl,
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" => ConnType::HostGssEnc,
        "hostnogssenc" => ConnType::HostNoGssEnc,
        other => {
            return Err(ParseError {
                line,
                message: format!("invalid connection type \"{other}\""),
            });
        }
    };
    let Some(db) = fields.get(1) else {
        return Err(err("end-of-line before database specification"));
    };
    let databases = names(
        db,
        &["all", "sameuser", "samerole", "samegroup", "replication"],
        false,
        line,
    )?;
    let Some(role) = fields.get(2) else {
        return Err(err("end-of-line before role specification"));
    };
    let roles = names(role, &["all"], true, line)?;
    let mut next = 3;
    let address = if conn == ConnType::Local {
        None
    } else {
        let (a, used) = address(&fields[3..], line)?;
        next += used;
        Some(a)
    };
    let Some(m) = fields.get(next) else {
        return Err(err("end-of-line before authentication method"));
    };
    if m.len() > 1 {
        return Err(err("multiple values specified for authentication type"));
    }
    let method = method(&m[0].text).ok_or_else(|| ParseError {
        line,
        message: format!("invalid authentication method \"{}\"", m[0].text),
    })?;
    if method == Method::Peer && conn != ConnType::Local {
        return Err(err(
            "peer authentication is only supported on local sockets",
        ));
    }
    if method == Method::Unsupported("cert".into()) && conn != ConnType::HostSsl {
        return Err(err(
            "cert authentication is only supported on hostssl connections",
        ));
    }
    for option in &fields[next + 1..] {
        for t in option {
            if !t.text.contains('=') {
                return Err(ParseError {
                    line,
                    message: format!("authentication option not in name=value format: {}", t.text),
                });
            }
        }
    }
    Ok(Record {
        line,
        raw: raw.trim_end().to_string(),
        conn,
        databases,
        roles,
        address,
        method,
    })
}

/// Parses the file; every problem is reported (PostgreSQL logs each and
/// then refuses to start, or to reload).
pub fn parse(text: &str) -> Result<Vec<Record>, Vec<ParseError>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut pending = String::new();
    let mut first_line = 0;
    for (i, line) in text.lines().enumerate() {
        if pending.is_empty() {
            first_line = i + 1;
        }
        // A backslash at the end continues the record on the next line.
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let raw = std::mem::take(&mut pending);
        let f = fields(&raw);
        if f.is_empty() {
            continue;
        }
        if matches!(
            f[0][0].text.as_str(),
            "include" | "include_if_exists" | "include_dir"
        ) && !f[0][0].quoted
        {
            errors.push(ParseError {
                line: first_line,
                message: format!(
                    "the kubetutor sandbox does not follow \"{}\" directives",
                    f[0][0].text
                ),
            });
            continue;
        }
        match record(first_line, &raw, &f) {
            Ok(r) => records.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() && records.is_empty() {
        errors.push(ParseError {
            line: 0,
            message: "configuration file contains no entries".into(),
        });
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// A connection to match.
pub struct Request<'a> {
    pub origin: Origin,
    pub user: &'a str,
    pub database: &'a str,
    /// The server's own addresses (`samehost`, `samenet`).
    pub server_addresses: &'a [IpAddr],
    /// Whether `user` is a member of a role (`+group`, `samerole`).
    pub is_member: &'a dyn Fn(&str, &str) -> bool,
}

fn name_matches(names: &[Name], value: &str, keyword: &dyn Fn(&str) -> bool) -> bool {
    names.iter().any(|n| match n {
        Name::Keyword(k) => keyword(k),
        Name::Group(_) => false,
        Name::Pattern(re) => re.is_match(value),
        Name::Literal(l) => l == value,
    })
}

fn in_net(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, n): (Vec<u8>, Vec<u8>) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (a.octets().to_vec(), n.octets().to_vec()),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.octets().to_vec(), n.octets().to_vec()),
        // An IPv4 client matches an IPv4 record only (as with
        // PostgreSQL on a dual-stack socket, mapped addresses aside).
        (IpAddr::V6(a), IpAddr::V4(n)) => match a.to_ipv4_mapped() {
            Some(a) => (a.octets().to_vec(), n.octets().to_vec()),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    let bits = usize::from(bits);
    a.iter().zip(&n).enumerate().all(|(i, (x, y))| {
        let left = bits.saturating_sub(i * 8).min(8);
        let mask = if left == 0 { 0 } else { 0xffu8 << (8 - left) };
        x & mask == y & mask
    })
}

impl Record {
    fn matches(&self, req: &Request<'_>) -> bool {
        let origin_ok = match (self.conn, req.origin) {
            (ConnType::Local, Origin::Local) => true,
            // No TLS and no GSSAPI encryption in the emulation.
            (ConnType::Host | ConnType::HostNoSsl | ConnType::HostNoGssEnc, Origin::Host(ip)) => {
                self.address_matches(ip, req.server_addresses)
            }
            _ => false,
        };
        if !origin_ok {
            return false;
        }
        let db_ok = self.databases.iter().any(|n| match n {
            Name::Keyword(k) => match k.as_str() {
                "all" => true,
                "sameuser" => req.database == req.user,
                "samerole" | "samegroup" => (req.is_member)(req.user, req.database),
                // Replication connections are not emulated.
                _ => false,
            },
            other => name_matches(std::slice::from_ref(other), req.database, &|_| false),
        });
        let role_ok = self.roles.iter().any(|n| match n {
            Name::Group(g) => (req.is_member)(req.user, g),
            other => name_matches(std::slice::from_ref(other), req.user, &|k| k == "all"),
        });
        db_ok && role_ok
    }

    fn address_matches(&self, ip: IpAddr, server: &[IpAddr]) -> bool {
        match &self.address {
            None | Some(Address::All) => true,
            Some(Address::SameHost) => server.contains(&ip),
            Some(Address::SameNet) => server.iter().any(|s| {
                let bits = match s {
                    IpAddr::V4(_) => 24,
                    IpAddr::V6(_) => 64,
                };
                in_net(ip, *s, bits)
            }),
            Some(Address::Net { addr, bits }) => in_net(ip, *addr, *bits),
            // Host names are resolved as the pod would: only localhost.
            Some(Address::HostName(h)) => h == "localhost" && ip.is_loopback(),
        }
    }
}

/// The first record that applies to a connection.
pub fn lookup<'a>(records: &'a [Record], req: &Request<'_>) -> Option<&'a Record> {
    records.iter().find(|r| r.matches(req))
}

/// The `pg_hba.conf` of the image: initdb's records (trust for the
/// socket and for loopback, its default `--auth-local`/`--auth-host`),
/// then what the entrypoint appends for `POSTGRES_HOST_AUTH_METHOD`
/// (`scram-sha-256`, the `password_encryption` default, when unset).
pub fn image_file(host_auth_method: &str) -> String {
    let mut file = String::from(
        "# PostgreSQL Client Authentication Configuration File
# ===================================================
#
# Which clients may connect, as which roles, to which databases, and how
# they prove who they are. One record per line, the first that matches a
# connection applies:
#
# local         DATABASE  USER  METHOD  [OPTIONS]
# host          DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostssl       DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnossl     DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostgssenc    DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnogssenc  DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
#
# \"local\" is a Unix-domain socket connection, \"host\" a TCP/IP one.
# DATABASE: \"all\", \"sameuser\", \"samerole\", \"replication\", a name, a
# comma-separated list, or a /regular expression.
# USER: \"all\", a role name, \"+role\" for its members, a list, or a
# /regular expression.
# ADDRESS: \"all\", \"samehost\", \"samenet\", an address with a CIDR mask
# (172.20.143.89/32), or a host name.
# METHOD: \"trust\", \"reject\", \"scram-sha-256\", \"md5\", \"password\",
# \"peer\", \"ident\", ...
#
# The server reads this file when it starts; after editing it, restart the
# server (or reload it) for the change to take effect.

# CAUTION: \"trust\" lets anyone who can reach the server in that way
# connect as any role, the superuser included.

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# \"local\" is for Unix domain socket connections only
local   all             all                                     trust
# IPv4 local connections:
host    all             all             127.0.0.1/32            trust
# IPv6 local connections:
host    all             all             ::1/128                 trust
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust

",
    );
    if host_auth_method == "trust" {
        file.push_str("# warning trust is enabled for all connections\n");
        file.push_str("# see https://www.postgresql.org/docs/16/auth-trust.html\n");
    }
    file.push_str(&format!("host all all all {host_auth_method}\n"));
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(origin: Origin, user: &'a str, db: &'a str) -> Request<'a> {
        Request {
            origin,
            user,
            database: db,
            server_addresses: &[],
            is_member: &|u, r| u == "ada" && r == "staff",
        }
    }

    fn method_for(records: &[Record], r: &Request<'_>) -> Option<Method> {
        lookup(records, r).map(|r| r.method.clone())
    }

    #[test]
    fn the_image_file_trusts_the_socket_and_loopback_only() {
        let records = parse(&image_file("scram-sha-256")).unwrap();
        let pod: IpAddr = "10.244.0.7".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            method_for(&records, &req(Origin::Local, "postgres", "customer")),
            Some(Method::Trust)
        );
        assert_eq!(
            method_for(&records, &req(Origin::Host(lo), "postgres", "customer")),
            Some(Method::Trust)
        );
        let r = lookup(&records, &req(Origin::Host(pod), "postgres", "customer")).unwrap();
        assert_eq!(r.method, Method::ScramSha256);
        assert_eq!(r.raw, "host all all all scram-sha-256");
        let text = image_file("scram-sha-256");
        assert_eq!(
            text.lines().nth(r.line - 1),
            Some("host all all all scram-sha-256")
        );
        let trust = image_file("trust");
        assert!(trust.ends_with(
            "# warning trust is enabled for all connections\n# see https://www.postgresql.org/docs/16/auth-trust.html\nhost all all all trust\n"
        ));
    }

    #[test]
    fn fields_keywords_groups_and_masks() {
        let file = "\
host \"all\" all 10.0.0.0 255.0.0.0 reject   # a database named all
host sameuser +staff 10.1.0.0/16 md5
hostssl all all all trust
host db1,db2 /^app_ ::1/128 password
host all all localhost trust
local all all \\
      peer
";
        let records = parse(file).unwrap();
        assert_eq!(records.len(), 6);
        assert_eq!(records[5].line, 6);
        let ten: IpAddr = "10.1.2.3".parse().unwrap();
        let r = |o, u, d| req(o, u, d);
        assert_eq!(
            method_for(&records, &r(Origin::Host(ten), "ada", "all")),
            Some(Method::Reject)
        );
        assert_eq!(
            method_for(&records, &r(Origin::Host(ten), "ada", "ada")),
            Some(Method::Md5)
        );
        assert_eq!(
            method_for(&records, &r(Origin::Host(ten), "bob", "bob")),
            None,
            "not in +staff; hostssl never matches"
        );
        let six: IpAddr = "::1".parse().unwrap();
        assert_eq!(
            method_for(&records, &r(Origin::Host(six), "app_x", "db2")),
            Some(Method::Password)
        );
        assert_eq!(
            method_for(&records, &r(Origin::Host(six), "bob", "db2")),
            Some(Method::Trust),
            "localhost"
        );
        assert_eq!(
            method_for(&records, &r(Origin::Local, "bob", "x")),
            Some(Method::Peer)
        );
    }

    #[test]
    fn errors_are_postgres_errors() {
        let errors = parse("hots all all all trust\nhost all\nhost all all 1.2.3.4/40 md5\nhost all all all sha1\nlocal all all trust x\n").unwrap_err();
        let messages: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (1, "invalid connection type \"hots\""),
                (2, "end-of-line before role specification"),
                (3, "invalid CIDR mask in address \"1.2.3.4/40\""),
                (4, "invalid authentication method \"sha1\""),
                (5, "authentication option not in name=value format: x"),
            ]
        );
        assert!(parse("# nothing\n").is_err());
        assert!(parse("host all all 10.0.0.1 255.0.255.0 md5\n").is_err());
    }
}
