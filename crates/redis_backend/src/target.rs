//! Where the Redis backend is: the `-server` URLs dc_client takes for it.
//!
//! ```text
//! redis://host[:port][/db]                      one server (or a proxy)
//! redis+sentinel://h1[:port],h2[:port]/MASTER[/db]   the master Sentinel names
//! redis+cluster://h1[:port],h2[:port],...       a Redis or Valkey Cluster
//! ```
//!
//! `rediss` in place of `redis` speaks TLS (checked against the system's
//! roots, or the CA of `-backend-tls-ca`). Ports default to 6379, and to 26379 for sentinels. A password
//! is never part of the URL (it would show in the process list): it comes
//! from `-backend-password-file`.

use std::fmt;

/// A host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What the backend connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server.
    Single {
        /// The server.
        node: Node,
        /// The database number.
        db: i64,
    },
    /// The master that these sentinels name, followed across failovers.
    Sentinel {
        /// The sentinels.
        sentinels: Vec<Node>,
        /// The master's name in their configuration.
        master: String,
        /// The database number.
        db: i64,
    },
    /// A cluster, found from these seed nodes.
    Cluster {
        /// Seed nodes (any of the cluster's).
        nodes: Vec<Node>,
    },
}

/// A parsed backend URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What to connect to.
    pub topology: Topology,
    /// Speak TLS (`rediss...`).
    pub tls: bool,
}

/// Why a backend URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not one of the schemes.
    #[error("\"{0}\": not a Redis URL (redis://, redis+sentinel://, redis+cluster://, or rediss for TLS)")]
    Scheme(String),
    /// A password or user in the URL.
    #[error("\"{0}\": give the password with -backend-password-file, not in the URL")]
    Credentials(String),
    /// A host or port that does not parse.
    #[error("\"{url}\": bad host or port \"{node}\"")]
    Node {
        /// The URL.
        url: String,
        /// The part that is wrong.
        node: String,
    },
    /// No host.
    #[error("\"{0}\": no host given")]
    NoHost(String),
    /// Several hosts for one server.
    #[error(
        "\"{0}\": one host for redis:// (several are for redis+sentinel:// or redis+cluster://)"
    )]
    SeveralHosts(String),
    /// A database number that does not parse, or one for a cluster.
    #[error("\"{url}\": bad database \"{db}\" (a number; a cluster has database 0 only)")]
    Db {
        /// The URL.
        url: String,
        /// The part that is wrong.
        db: String,
    },
    /// A Sentinel URL without the master's name.
    #[error("\"{0}\": name the master after the sentinels (redis+sentinel://h1,h2/MASTER)")]
    NoMaster(String),
}

impl Target {
    /// Whether `text` is meant for the Redis backend (its scheme), as
    /// opposed to a dc_server address.
    pub fn is_redis_url(text: &str) -> bool {
        ["redis://", "rediss://", "redis+", "rediss+"]
            .iter()
            .any(|p| text.starts_with(p))
    }

    /// Parses a backend URL.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| TargetError::Scheme(url.to_owned()))?;
        let (kind, tls) = match scheme {
            "redis" => ("single", false),
            "rediss" => ("single", true),
            "redis+sentinel" => ("sentinel", false),
            "rediss+sentinel" => ("sentinel", true),
            "redis+cluster" => ("cluster", false),
            "rediss+cluster" => ("cluster", true),
            _ => return Err(TargetError::Scheme(url.to_owned())),
        };
        let (hosts, path) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, Some(path)),
            None => (rest, None),
        };
        if hosts.contains('@') {
            return Err(TargetError::Credentials(url.to_owned()));
        }
        let default_port = if kind == "sentinel" { 26379 } else { 6379 };
        let nodes = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                parse_node(h, default_port).ok_or_else(|| TargetError::Node {
                    url: url.to_owned(),
                    node: h.to_owned(),
                })
            })
            .collect::<Result<Vec<Node>, TargetError>>()?;
        if nodes.is_empty() {
            return Err(TargetError::NoHost(url.to_owned()));
        }
        let db = |text: Option<&str>| match text {
            None | Some("") => Ok(0),
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| TargetError::Db {
                    url: url.to_owned(),
                    db: d.to_owned(),
                }),
        };
        let topology = match kind {
            "single" => {
                if nodes.len() > 1 {
                    return Err(TargetError::SeveralHosts(url.to_owned()));
                }
                Topology::Single {
                    node: nodes
                        .into_iter()
                        .next()
                        .ok_or_else(|| TargetError::NoHost(url.to_owned()))?,
                    db: db(path)?,
                }
            }
            "sentinel" => {
                let path = path.unwrap_or_default();
                let (master, rest) = match path.split_once('/') {
                    Some((m, r)) => (m, Some(r)),
                    None => (path, None),
                };
                if master.is_empty() {
                    return Err(TargetError::NoMaster(url.to_owned()));
                }
                Topology::Sentinel {
                    sentinels: nodes,
                    master: master.to_owned(),
                    db: db(rest)?,
                }
            }
            _ => {
                if db(path)? != 0 {
                    return Err(TargetError::Db {
                        url: url.to_owned(),
                        db: path.unwrap_or_default().to_owned(),
                    });
                }
                Topology::Cluster { nodes }
            }
        };
        Ok(Target { topology, tls })
    }

    /// How it is named in logs and metrics: the URL without anything
    /// secret (there is nothing secret in it).
    pub fn describe(&self) -> String {
        let s = if self.tls { "s" } else { "" };
        let list = |nodes: &[Node]| {
            nodes
                .iter()
                .map(Node::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match &self.topology {
            Topology::Single { node, db } => format!("redis{s}://{node}/{db}"),
            Topology::Sentinel {
                sentinels,
                master,
                db,
            } => {
                format!("redis{s}+sentinel://{}/{master}/{db}", list(sentinels))
            }
            Topology::Cluster { nodes } => format!("redis{s}+cluster://{}", list(nodes)),
        }
    }
}

fn parse_node(text: &str, default_port: u16) -> Option<Node> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (host, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (text, default_port),
        }
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    (valid && port != 0).then(|| Node {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16) -> Node {
        Node {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn the_three_topologies_parse() {
        assert_eq!(
            Target::parse("redis://cache:6380/2").unwrap(),
            Target {
                topology: Topology::Single {
                    node: node("cache", 6380),
                    db: 2
                },
                tls: false
            }
        );
        assert_eq!(
            Target::parse("rediss+sentinel://s1,s2:26380,[::1]/mymaster").unwrap(),
            Target {
                topology: Topology::Sentinel {
                    sentinels: vec![node("s1", 26379), node("s2", 26380), node("::1", 26379)],
                    master: "mymaster".into(),
                    db: 0
                },
                tls: true
            }
        );
        assert_eq!(
            Target::parse("redis+cluster://10.0.0.1:7000,10.0.0.2")
                .unwrap()
                .topology,
            Topology::Cluster {
                nodes: vec![node("10.0.0.1", 7000), node("10.0.0.2", 6379)]
            }
        );
        assert_eq!(
            Target::parse("redis://127.0.0.1").unwrap().describe(),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn bad_urls_are_refused_naming_what_is_wrong() {
        for (url, needle) in [
            ("http://x", "not a Redis URL"),
            ("redis://:secret@host", "-backend-password-file"),
            ("redis://host:0", "bad host or port \"host:0\""),
            ("redis://host:99999", "bad host or port"),
            ("redis://", "no host"),
            ("redis://a,b", "one host"),
            ("redis://a/x", "bad database \"x\""),
            ("redis+cluster://a/3", "database 0 only"),
            ("redis+sentinel://a,b", "name the master"),
            ("redis://ho st", "bad host"),
        ] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
        assert!(Target::is_redis_url("redis+cluster://a"));
        assert!(!Target::is_redis_url("IP:cache:9001"));
    }
}
