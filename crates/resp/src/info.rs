//! The `INFO` text: Redis's `# Section` blocks of `field:value` lines,
//! from [`ServerInfo`]. It carries every field apr_redis's status page and
//! ProFTPD read (CONSUMERS.md 5.1); the version is numeric and at least 6,
//! so ProFTPD uses the two-argument `AUTH`.

use std::io::Write;

use dc_ops::ServerInfo;

/// The `redis_version` reported: the Redis release whose replies the
/// server reproduces.
pub const REDIS_VERSION: &str = "7.0.0";

const SECTIONS: [&str; 8] = [
    "server",
    "clients",
    "memory",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
];

/// Appends the text of the sections asked for (`sections` empty, or
/// holding `default`, `all` or `everything`, means all; names in any case;
/// unknown names are left out, so `INFO bogus` is empty, as in Redis).
pub fn write_info<'s>(
    out: &mut Vec<u8>,
    info: &ServerInfo,
    sections: impl Iterator<Item = &'s [u8]> + Clone,
) {
    let all = sections.clone().next().is_none()
        || sections.clone().any(|s| {
            [&b"all"[..], b"default", b"everything"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(s))
        });
    let mut first = true;
    for name in SECTIONS {
        if !all
            && !sections
                .clone()
                .any(|s| s.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        let start = out.len();
        if !first {
            out.extend_from_slice(b"\r\n");
        }
        if write_section(out, name, info).is_err() {
            out.truncate(start);
            continue;
        }
        first = false;
    }
}

fn write_section(out: &mut Vec<u8>, name: &str, i: &ServerInfo) -> std::io::Result<()> {
    let cpu = |us: u64| (us / 1_000_000, us % 1_000_000);
    match name {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
             distcache_version:{}\r\narch_bits:{}\r\nprocess_id:{}\r\n\
             server_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            usize::BITS,
            i.pid,
            i.unix_time.saturating_mul(1_000_000),
            i.uptime_secs,
            i.uptime_secs / 86_400,
        ),
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:0\r\n",
            i.connections
        ),
        "memory" => write!(
            out,
            "# Memory\r\nused_memory:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:allkeys-lru\r\n\
             total_system_memory:0\r\n",
            i.bytes, i.max_bytes
        ),
        "stats" => write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\ntotal_net_input_bytes:0\r\ntotal_net_output_bytes:0\r\n\
             evicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n",
            i.connections_total, i.commands, i.connections_refused, i.evictions, i.hits, i.misses
        ),
        "replication" => write!(
            out,
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
        ),
        "cpu" => {
            let (ss, sus) = cpu(i.cpu_system_us);
            let (us, uus) = cpu(i.cpu_user_us);
            write!(
                out,
                "# CPU\r\nused_cpu_sys:{ss}.{sus:06}\r\nused_cpu_user:{us}.{uus:06}\r\n"
            )
        }
        "cluster" => write!(out, "# Cluster\r\ncluster_enabled:0\r\n"),
        _ => {
            write!(out, "# Keyspace\r\n")?;
            if i.items > 0 {
                // Every entry has a lifetime (the server caps them).
                write!(out, "db0:keys={0},expires={0},avg_ttl=0\r\n", i.items)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sections: &[&[u8]]) -> String {
        let mut out = Vec::new();
        let info = ServerInfo {
            pid: 42,
            cpu_user_us: 1_500_000,
            items: 3,
            ..ServerInfo::default()
        };
        write_info(&mut out, &info, sections.iter().copied());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn carries_every_field_the_consumers_read() {
        let all = text(&[]);
        for field in [
            "redis_version:",
            "process_id:",
            "uptime_in_seconds:",
            "arch_bits:",
            "connected_clients:",
            "blocked_clients:",
            "maxmemory:",
            "used_memory:",
            "total_system_memory:",
            "total_connections_received:",
            "total_commands_processed:",
            "rejected_connections:",
            "total_net_input_bytes:",
            "total_net_output_bytes:",
            "keyspace_hits:",
            "keyspace_misses:",
            "connected_slaves:",
            "used_cpu_sys:",
            "used_cpu_user:",
            "cluster_enabled:",
            "role:master",
        ] {
            assert!(all.contains(&format!("\r\n{field}")), "{field} missing");
        }
        assert!(all.starts_with("# Server\r\nredis_version:7.0.0\r\n"));
        assert!(all.contains("used_cpu_user:1.500000\r\n"));
        assert!(all.contains("\r\n\r\n# Clients\r\n"));
        assert!(all.ends_with("db0:keys=3,expires=3,avg_ttl=0\r\n"));
        assert_eq!(text(&[b"ALL"]), all);
    }

    #[test]
    fn sections_are_chosen_by_name() {
        let server = text(&[b"server"]);
        assert!(server.starts_with("# Server\r\n") && !server.contains("# Clients"));
        assert_eq!(text(&[b"bogus"]), "");
        let two = text(&[b"Server", b"cpu"]);
        assert!(two.contains("\r\n\r\n# CPU\r\n") && !two.contains("# Stats"));
    }
}
