//! libpq connection strings: `postgres://user@host:port/db` URLs and
//! `host=… port=… dbname=… user=…` keyword lists, the two forms that
//! `CREATE SUBSCRIPTION … CONNECTION` accepts. narherder connects with the
//! same string it hands to PostgreSQL, so that what it checks is what the
//! subscription will use.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::Connection as _;

use crate::{Error, Result};

/// A parsed libpq connection string.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    text: String,
    options: PgConnectOptions,
}

/// Keywords of libpq that narherder accepts but does not need for its own
/// connection (PostgreSQL still gets them in the subscription).
const PASSED_THROUGH: &[&str] = &[
    "connect_timeout",
    "client_encoding",
    "options",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "target_session_attrs",
    "channel_binding",
    "passfile",
    "fallback_application_name",
    "service",
];

impl ConnInfo {
    /// Parses a connection string (URL or keyword list).
    pub fn parse(text: &str) -> Result<ConnInfo> {
        let text = text.trim();
        let bad = |why: String| {
            Error::InvalidArgument(format!("connection string {:?}: {why}", redact(text)))
        };
        if text.is_empty() {
            return Err(bad("is empty".into()));
        }
        if text.contains('\0') {
            return Err(bad("contains a NUL byte".into()));
        }
        let options =
            if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                PgConnectOptions::from_str(text).map_err(|e| bad(e.to_string()))?
            } else {
                let mut o = PgConnectOptions::new_without_pgpass();
                for (key, value) in keywords(text).map_err(bad)? {
                    o =
                        match key.as_str() {
                            "host" | "hostaddr" => {
                                if value.starts_with('/') {
                                    o.socket(&value)
                                } else {
                                    o.host(&value)
                                }
                            }
                            "port" => o.port(value.parse().map_err(|_| {
                                bad(format!("port {value:?} is not a port number"))
                            })?),
                            "dbname" => o.database(&value),
                            "user" => o.username(&value),
                            "password" => o.password(&value),
                            "application_name" => o.application_name(&value),
                            "sslrootcert" => o.ssl_root_cert(&value),
                            "sslmode" => o.ssl_mode(PgSslMode::from_str(&value).map_err(|_| {
                                bad(format!("sslmode {value:?} is not a libpq sslmode"))
                            })?),
                            k if PASSED_THROUGH.contains(&k) => o,
                            k => return Err(bad(format!("unknown keyword {k:?}"))),
                        };
                }
                o
            };
        Ok(ConnInfo {
            text: text.to_string(),
            options,
        })
    }

    /// The string as given (it may hold a password: see
    /// [`ConnInfo::redacted`] for display).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The string with any password replaced by `***`, for messages.
    pub fn redacted(&self) -> String {
        redact(&self.text)
    }

    /// Connects, giving up after `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<PgConnection> {
        match tokio::time::timeout(timeout, PgConnection::connect_with(&self.options)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(Error::Store(format!(
                "connecting to {}: {e}",
                self.redacted()
            ))),
            Err(_) => Err(Error::Store(format!(
                "connecting to {}: no answer within {timeout:?}",
                self.redacted()
            ))),
        }
    }
}

/// Splits a libpq keyword list: `key=value` pairs separated by blanks,
/// values optionally in single quotes, `\` escaping the next character.
fn keywords(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("expected `=` after keyword {key:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted value of {key:?}")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated quoted value of {key:?}")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    match chars.next() {
                        Some(e) => value.push(e),
                        None => return Err(format!("value of {key:?} ends with `\\`")),
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("empty keyword before `=`".into());
        }
        out.push((key, value));
    }
}

/// Hides passwords: `password=…` values and the `:…@` of URLs.
fn redact(text: &str) -> String {
    if let Some(rest) = text
        .strip_prefix("postgres://")
        .or_else(|| text.strip_prefix("postgresql://"))
    {
        let scheme = &text[..text.len() - rest.len()];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!("{scheme}{}:***{}", &rest[..colon], &rest[at..]);
            }
        }
        return text.to_string();
    }
    match keywords(text) {
        Ok(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                if k == "password" {
                    format!("{k}=***")
                } else if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<malformed connection string>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_lists() {
        let kv = keywords("host=db.example port = 5433 dbname='my db' password='it\\'s'").unwrap();
        assert_eq!(
            kv,
            vec![
                ("host".into(), "db.example".into()),
                ("port".into(), "5433".into()),
                ("dbname".into(), "my db".into()),
                ("password".into(), "it's".into()),
            ]
        );
        assert!(keywords("host").is_err());
        assert!(keywords("host='x").is_err());
        assert!(keywords("=x").is_err());
        assert_eq!(keywords("  ").unwrap(), vec![]);
    }

    #[test]
    fn parse_and_redact() {
        let c = ConnInfo::parse("host=127.0.0.1 port=5432 user=repl password=s3cret dbname=nh")
            .unwrap();
        assert!(!c.redacted().contains("s3cret"), "{}", c.redacted());
        assert!(c.redacted().contains("password=***"));
        let u = ConnInfo::parse("postgres://repl:s3cret@h:5/nh").unwrap();
        assert_eq!(u.redacted(), "postgres://repl:***@h:5/nh");
        assert_eq!(u.as_str(), "postgres://repl:s3cret@h:5/nh");
        let e = ConnInfo::parse("host=h port=x").unwrap_err().to_string();
        assert!(e.contains("port \"x\""), "{e}");
        let e = ConnInfo::parse("host=h bogus=1").unwrap_err().to_string();
        assert!(e.contains("unknown keyword \"bogus\""), "{e}");
        assert!(ConnInfo::parse("").is_err());
        assert!(ConnInfo::parse("host=h connect_timeout=5").is_ok());
    }
}
