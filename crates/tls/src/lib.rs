//! TLS for the link between `dc_client` and `dc_server`.
//!
//! A session cache carries TLS master secrets; the original sent them in
//! clear and trusted anyone who could connect. With TLS configured, both
//! ends authenticate: the server accepts only clients whose certificate
//! chains to the configured CA, and the client accepts only a server whose
//! certificate chains to it and names the host it dialled. Plain TCP stays
//! the default, for compatibility with the original tools.
//!
//! This crate only builds the rustls configurations from PEM files
//! (`-tls-cert`, `-tls-key`, `-tls-ca`); `nal` runs the connections.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

pub use rustls;

/// The three PEM files of one end of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This end's certificate chain (leaf first).
    pub cert: PathBuf,
    /// This end's private key.
    pub key: PathBuf,
    /// The CA that the other end's certificate must chain to.
    pub ca: PathBuf,
}

impl TlsFiles {
    /// All three given, or none (plain TCP); anything else is an error
    /// naming what is missing.
    pub fn from_options(
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, TlsError> {
        match (cert, key, ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                ca: ca.to_path_buf(),
            })),
            _ => {
                let missing: Vec<&str> = [(cert, "-tls-cert"), (key, "-tls-key"), (ca, "-tls-ca")]
                    .iter()
                    .filter(|(v, _)| v.is_none())
                    .map(|(_, n)| *n)
                    .collect();
                Err(TlsError::Incomplete(missing.join(", ")))
            }
        }
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// Some but not all of the three options were given.
    #[error("TLS needs -tls-cert, -tls-key and -tls-ca together; missing {0}")]
    Incomplete(String),
    /// A file could not be read or holds no usable PEM item.
    #[error("{what} {path}: {reason}")]
    File {
        /// "certificate", "private key" or "CA".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the combination (a key that does not match the
    /// certificate, say).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_err(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(what, path, e))?;
    if certs.is_empty() {
        return Err(file_err(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err("private key", path, e))
}

fn roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs("CA", path)? {
        roots
            .add(cert)
            .map_err(|e| file_err("CA", path, format!("unusable certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// The server side: presents `cert`, and requires every client to present
/// a certificate that chains to `ca`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(&files.ca)?, provider.clone())
        .build()
        .map_err(|e| file_err("CA", &files.ca, e))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs("certificate", &files.cert)?, key(&files.key)?)?;
    Ok(Arc::new(config))
}

/// The client side: accepts a server whose certificate chains to `ca`, and
/// presents `cert` for the server to check.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(&files.ca)?)
        .with_client_auth_cert(certs("certificate", &files.cert)?, key(&files.key)?)?;
    Ok(Arc::new(config))
}

/// Turns a rustls error met on a connection into an I/O error that keeps
/// the reason (callers log it).
pub fn io_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// Certificates made on the fly, for tests (here and in other crates; the
/// `testing` feature).
#[cfg(feature = "testing")]
pub mod testing {
    use std::path::Path;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    use super::TlsFiles;

    /// A CA that signs leaf certificates into a directory.
    pub struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    impl TestCa {
        /// A new self-signed CA.
        pub fn new(name: &str) -> TestCa {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().expect("CA key");
            let cert = params.self_signed(&key).expect("CA certificate");
            TestCa {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        /// Writes a leaf certificate for `names` (DNS names or IP
        /// addresses), its key and this CA into `dir`, prefixed `stem`, and
        /// returns the files with `ca` as the CA to trust.
        pub fn issue(
            &self,
            dir: &Path,
            stem: &str,
            names: &[&str],
            ca_to_trust: &TestCa,
        ) -> TlsFiles {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let params = CertificateParams::new(names).expect("leaf params");
            let key = KeyPair::generate().expect("leaf key");
            let cert = params
                .signed_by(&key, &self.issuer)
                .expect("leaf certificate");
            let files = TlsFiles {
                cert: dir.join(format!("{stem}.crt")),
                key: dir.join(format!("{stem}.key")),
                ca: dir.join(format!("{stem}-ca.crt")),
            };
            std::fs::write(&files.cert, cert.pem()).expect("write cert");
            std::fs::write(&files.key, key.serialize_pem()).expect("write key");
            std::fs::write(&files.ca, &ca_to_trust.pem).expect("write ca");
            files
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestCa;
    use super::*;

    #[test]
    fn builds_both_sides_from_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA");
        let server = ca.issue(dir.path(), "server", &["localhost", "127.0.0.1"], &ca);
        let client = ca.issue(dir.path(), "client", &["client"], &ca);
        server_config(&server).unwrap();
        client_config(&client).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA");
        let mut files = ca.issue(dir.path(), "s", &["localhost"], &ca);
        files.cert = dir.path().join("missing.crt");
        let e = server_config(&files).unwrap_err().to_string();
        assert!(e.contains("missing.crt"), "{e}");
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        files.cert = dir.path().join("empty.pem");
        let e = server_config(&files).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = TlsFiles::from_options(Some(Path::new("c")), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("-tls-key, -tls-ca"), "{e}");
        assert!(TlsFiles::from_options(None, None, None).unwrap().is_none());
    }
}
