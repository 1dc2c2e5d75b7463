//! loadgen's `wss://` client against a real TLS WebSocket server (rustls + tokio-tungstenite):
//! it completes echoes when the server presents the trusted certificate and refuses any other.

use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};
use wssession_bench::client;
use wssession_bench::modes::{self, Settings};
use wssession_bench::target::Target;

/// A self-signed certificate for 127.0.0.1: its PEM written to a file, and the DER pair.
struct Cert {
    pem_path: PathBuf,
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn self_signed(name: &str) -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem_path = std::env::temp_dir().join(format!("loadgen-tls-{}-{name}.pem", std::process::id()));
    std::fs::write(&pem_path, c.cert.pem()).unwrap();
    Cert { pem_path, der: c.cert.der().clone(), key: PrivatePkcs8KeyDer::from(c.signing_key.serialize_der()) }
}

/// Starts a TLS echo server presenting `cert`; its port.
async fn tls_echo_server(cert: &Cert) -> u16 {
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], PrivateKeyDer::Pkcs8(cert.key.clone_key()))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn settings(target: Target, size: usize) -> Settings {
    Settings {
        target,
        connections: 2,
        size,
        binary: size > 1024,
        pipeline: 2,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        deflate: false,
        server_pid: None,
        connect_concurrency: 4,
    }
}

fn cleanup(paths: &[&Path]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn wss_echoes_complete_when_the_server_presents_the_trusted_certificate() {
    let cert = self_signed("trusted");
    let port = tls_echo_server(&cert).await;
    let target = Target::parse(&format!("wss://127.0.0.1:{port}/"), Some(&cert.pem_path)).unwrap();
    for size in [32, 70_000] {
        let out = modes::echo::run(&settings(target.clone(), size)).await.unwrap();
        assert_eq!(out.errors, 0, "{size} B: {:?}", out.first_error);
        assert_eq!(out.connections_ok, 2);
        assert!(out.messages > 0, "{size} B: no echo completed");
    }
    cleanup(&[&cert.pem_path]);
}

#[tokio::test]
async fn wss_connection_is_refused_when_the_server_presents_another_certificate() {
    let (served, trusted) = (self_signed("served"), self_signed("other"));
    let port = tls_echo_server(&served).await;
    let target = Target::parse(&format!("wss://127.0.0.1:{port}/"), Some(&trusted.pem_path)).unwrap();
    let err = client::connect(&target, false).await.err().expect("an untrusted certificate must be refused");
    assert!(err.to_string().contains("certificate"), "{err}");
    cleanup(&[&served.pem_path, &trusted.pem_path]);
}
