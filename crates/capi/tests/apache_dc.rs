//! Apache httpd's own distcache client, mod_socache_dc, on our library:
//! two stock Apache nodes with `SSLSessionCache dc:UNIX:...` resume each
//! other's TLS 1.2 sessions through libdistcache.so.1 (found first through
//! LD_LIBRARY_PATH), our dc_client and our dc_server.
//!
//! Nothing of Apache's is built here. Debian does not ship
//! mod_socache_dc (it needs the original libdistcache to build), so the
//! test runs only when `MOD_SOCACHE_DC` names a built `mod_socache_dc.so`,
//! and otherwise says it skipped.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dc_e2e::{free_port, start_server, tcp_address, wait_for_file, Daemon};

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs openssl with `input`, killed after [`TIMEOUT`]; stdout and stderr.
fn openssl(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    {
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(input);
    }
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("openssl {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut text = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut text);
    let _ = child.stderr.take().unwrap().read_to_string(&mut text);
    text
}

/// One Apache node, stopped with SIGTERM (which stops its workers) on drop.
struct Node {
    port: u16,
    root: PathBuf,
    daemon: Option<Daemon>,
}

impl Node {
    fn start(name: &str, module: &str, cache: &str, lib: &Path, cert: &Path, key: &Path) -> Node {
        let dir = tempfile::Builder::new()
            .prefix(&format!("apache-dc-{name}-"))
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(root.join("htdocs")).unwrap();
        std::fs::write(
            root.join("htdocs/index.html"),
            format!("hello from {name}\n"),
        )
        .unwrap();
        let port = free_port();
        let user = if nix::unistd::geteuid().is_root() {
            "User nobody\nGroup nogroup\n"
        } else {
            ""
        };
        let r = root.display();
        let conf = format!(
            r#"ServerRoot "{r}"
ServerName localhost:443
PidFile "{r}/httpd.pid"
DefaultRuntimeDir "{r}"
Mutex file:{r} default
ErrorLog "{r}/error.log"
LogLevel info ssl:debug socache_dc:debug
{user}
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule socache_dc_module {module}
LoadModule ssl_module {MODULES}/mod_ssl.so
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4
Listen 127.0.0.1:{port}
DocumentRoot "{r}/htdocs"
<Directory "{r}/htdocs">
    Require all granted
</Directory>
SSLEngine on
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLProtocol -all +TLSv1.2
SSLSessionCache {cache}
SSLSessionCacheTimeout 300
SSLSessionTickets off
"#,
            cert = cert.display(),
            key = key.display(),
        );
        let conf_path = root.join("httpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // env(1) execs apache2, so the daemon's pid is Apache's, with our
        // library first on the loader's path.
        let args = [
            format!("LD_LIBRARY_PATH={}", lib.display()),
            APACHE.to_string(),
            "-f".to_string(),
            conf_path.display().to_string(),
            "-DFOREGROUND".to_string(),
        ];
        let daemon =
            Daemon::start_program(Path::new("/usr/bin/env"), dir, &args, &tcp_address(port));
        wait_for_file(&root.join("error.log"), TIMEOUT, |log| {
            log.contains("resuming normal operations")
        });
        Node {
            port,
            root,
            daemon: Some(daemon),
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.join("error.log")).unwrap_or_default()
    }

    fn request(&self, session_option: &str, session: &Path) -> String {
        let connect = format!("127.0.0.1:{}", self.port);
        openssl(
            &[
                "s_client",
                "-connect",
                &connect,
                "-servername",
                "localhost",
                "-tls1_2",
                session_option,
                session.to_str().unwrap(),
                "-ign_eof",
            ],
            b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n",
        )
    }

    /// Whether one of the node's processes has `library` mapped.
    fn maps(&self, library: &Path) -> bool {
        let Some(daemon) = &self.daemon else {
            return false;
        };
        let needle = library.display().to_string();
        let mut pids = vec![daemon.pid()];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let parent = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
                if parent == Some(daemon.pid()) {
                    pids.push(pid);
                }
            }
        }
        pids.iter().any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .map(|m| m.contains(&needle))
                .unwrap_or(false)
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.signal(nix::sys::signal::Signal::SIGTERM);
            let _ = daemon.wait_exit(TIMEOUT);
        }
    }
}

#[test]
fn mod_socache_dc_nodes_share_sessions_through_our_library() {
    let Some(module) = std::env::var_os("MOD_SOCACHE_DC") else {
        eprintln!(
            "SKIPPED: set MOD_SOCACHE_DC to the path of a built mod_socache_dc.so to run \
             two Apache nodes with SSLSessionCache dc:UNIX:... through libdistcache"
        );
        return;
    };
    let module = PathBuf::from(module);
    assert!(
        module.exists(),
        "MOD_SOCACHE_DC={} does not exist",
        module.display()
    );
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi-apache");
    let prefix = common::install(&work);
    let lib = prefix.join("lib");

    let cert = work.join("cert.pem");
    let key = work.join("key.pem");
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
        b"",
    );
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let server = start_server(&[]);
    let sock_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(sock_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let client_address = format!("UNIX:{}", sock_dir.path().join("dc.sock").display());
    let args: Vec<String> = [
        "-listen",
        &client_address,
        "-server",
        &server.address,
        "-sockperms",
        "666",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let client = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        "dc_client",
        &args,
        &client_address,
    );

    let cache = format!("dc:{client_address}");
    let module = module.display().to_string();
    let a = Node::start("a", &module, &cache, &lib, &cert, &key);
    let b = Node::start("b", &module, &cache, &lib, &cert, &key);
    for (from, to, name) in [(&a, &b, "a-to-b"), (&b, &a, "b-to-a")] {
        let session = work.join(format!("{name}.pem"));
        let made = from.request("-sess_out", &session);
        assert!(made.contains("New, TLSv1.2"), "no full handshake:\n{made}");
        let resumed = to.request("-sess_in", &session);
        assert!(
            resumed.contains("Reused, TLSv1.2"),
            "{name}: not resumed:\n{resumed}\n--- from:\n{}\n--- to:\n{}\n--- dc_client:\n{}\n--- dc_server:\n{}",
            from.error_log(),
            to.error_log(),
            client.stderr(),
            server.stderr()
        );
    }
    let ours = lib.join("libdistcache.so.1.0.0");
    assert!(
        a.maps(&ours) && b.maps(&ours),
        "the Apache processes did not load {}",
        ours.display()
    );
}
