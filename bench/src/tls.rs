//! The TLS client for `wss://` targets: it trusts exactly the certificates of one PEM file
//! (the harness's self-signed one), nothing else.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

/// A TLS client bound to one server name and one set of trusted certificates.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TlsClient {
    /// A client for `host` (a DNS name or an IP address) trusting the certificates in `ca_pem`.
    pub fn new(host: &str, ca_pem: &Path) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_pem).map_err(|e| invalid(format!("{}: {e}", ca_pem.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| invalid(format!("{}: {e}", ca_pem.display())))?;
            roots.add(cert).map_err(|e| invalid(format!("{}: {e}", ca_pem.display())))?;
        }
        if roots.is_empty() {
            return Err(invalid(format!("{}: no certificate in the file", ca_pem.display())));
        }
        let config = ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned()).map_err(|e| invalid(format!("host {host:?}: {e}")))?;
        Ok(Self { connector: TlsConnector::from(Arc::new(config)), name })
    }

    /// Runs the TLS handshake over a connected socket.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.name.clone(), tcp).await
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
