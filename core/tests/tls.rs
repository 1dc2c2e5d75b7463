//! SPEC 9.1 (TLS): `wss://` with PEM files; a real rustls client trusting a self-signed certificate;
//! unusable certificate/key files fail `start` with a clear error.
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use tokio_rustls::rustls;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Error, Handler, ServerBuilder, ServerConfig, TlsConfig};

/// A fresh directory for this test's PEM files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wssession-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Pem {
    cert_pem: String,
    key_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
}

fn self_signed() -> Pem {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    Pem { cert_pem: c.cert.pem(), key_pem: c.signing_key.serialize_pem(), cert_der: c.cert.der().clone() }
}

fn write_pair(dir: &Path, cert: &str, key: &str) -> TlsConfig {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    TlsConfig { cert_path: cert_path.to_string_lossy().into(), key_path: key_path.to_string_lossy().into() }
}

fn client_trusting(cert: rustls::pki_types::CertificateDer<'static>) -> Connector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Connector::Rustls(Arc::new(config))
}

#[tokio::test]
async fn a_rustls_client_echoes_over_wss_with_a_self_signed_certificate() {
    let pem = self_signed();
    let tls = write_pair(&temp_dir("ok"), &pem.cert_pem, &pem.key_pem);
    let (server, mut sessions) = session_server(ServerConfig { tls: Some(tls), ..ServerConfig::default() }).await;
    let url = format!("wss://localhost:{}/secure", server.port());
    let (mut client, _) =
        within(tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(client_trusting(pem.cert_der))))
            .await
            .expect("TLS handshake and upgrade succeed");
    let session = next_session(&mut sessions).await;
    assert!(session.request().tls);
    assert_eq!(session.request().path, "/secure");
    send(&mut client, Message::text("over tls")).await;
    let m = within(session.recv()).await.unwrap().unwrap();
    within(session.send(m)).await.unwrap();
    assert_eq!(next(&mut client).await, Some(Message::text("over tls")));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails_and_the_server_keeps_serving() {
    let pem = self_signed();
    let other = self_signed();
    let tls = write_pair(&temp_dir("untrusted"), &pem.cert_pem, &pem.key_pem);
    let server = start(ServerConfig { tls: Some(tls), ..ServerConfig::default() }, Handler::events(Echo)).await;
    let url = format!("wss://localhost:{}/", server.port());
    let bad =
        tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(client_trusting(other.cert_der)));
    assert!(within(bad).await.is_err());
    let good = tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(client_trusting(pem.cert_der)));
    let (mut client, _) = within(good).await.unwrap();
    send(&mut client, Message::binary(vec![1u8, 2])).await;
    assert_eq!(next(&mut client).await, Some(Message::binary(vec![1u8, 2])));
}

async fn start_error(tls: TlsConfig) -> String {
    let config = ServerConfig { tls: Some(tls), ..ServerConfig::default() };
    match ServerBuilder::new(config).fallback(Handler::events(Echo)).start().await {
        Err(e @ Error::InvalidArgument(_)) => e.to_string(),
        Err(e) => panic!("expected InvalidArgument, got {e:?}"),
        Ok(_) => panic!("the server started with unusable TLS files"),
    }
}

#[tokio::test]
async fn a_certificate_and_key_that_do_not_match_fail_start_with_a_clear_error() {
    let (a, b) = (self_signed(), self_signed());
    let msg = start_error(write_pair(&temp_dir("mismatch"), &a.cert_pem, &b.key_pem)).await;
    assert!(msg.contains("do not match"), "{msg}");
}

#[tokio::test]
async fn missing_or_garbage_pem_files_fail_start_naming_the_file() {
    let pem = self_signed();
    let dir = temp_dir("garbage");
    let msg = start_error(write_pair(&dir, "not a pem file\n", &pem.key_pem)).await;
    assert!(msg.contains("certificate") && msg.contains("cert.pem"), "{msg}");
    let msg = start_error(write_pair(&dir, &pem.cert_pem, "nope\n")).await;
    assert!(msg.contains("key") && msg.contains("key.pem"), "{msg}");
    let missing = TlsConfig { cert_path: dir.join("absent.pem").to_string_lossy().into(), key_path: "x".into() };
    let msg = start_error(missing).await;
    assert!(msg.contains("absent.pem"), "{msg}");
}

#[tokio::test]
async fn a_tls_client_that_never_handshakes_is_dropped_after_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let pem = self_signed();
    let tls = write_pair(&temp_dir("timeout"), &pem.cert_pem, &pem.key_pem);
    let config = ServerConfig {
        tls: Some(tls),
        handshake_timeout: std::time::Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = start(config, Handler::events(Echo)).await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let mut out = vec![];
    let _ = within(tcp.read_to_end(&mut out)).await;
    eventually(|| server.connection_count() == 0).await;
}
