//! The one place HTTP clients are built: reqwest over rustls, with *ring* as the crypto
//! provider handed to each client's own TLS configuration.
//!
//! rustls keeps one process-wide default provider, which only the program may choose and
//! which can be installed once. A library therefore installs none and relies on none:
//! every client here carries ring in its own `rustls::ClientConfig`, so building one works
//! whether the host program installed no provider or another one. reqwest's own builder,
//! built without a provider of its own (the `rustls-no-provider` feature, which spares the
//! C build of aws-lc-rs), would panic without a process default: that is why the crate, its
//! tests, benchmarks and examples build every client through [`http_client`], never through
//! `reqwest::Client::new()` or `reqwest::Client::builder()`.
//!
//! Servers are verified as reqwest's `rustls` feature verifies them: by
//! rustls-platform-verifier, with the system's root certificates.

use std::sync::Arc;
use std::time::Duration;

use rustls_platform_verifier::BuilderVerifierExt;

use super::TransportError;
use super::live::error_chain;

/// A reqwest client over rustls with ring; `timeout` bounds each whole request, body
/// included (default: `None`, no limit).
///
/// Fails only when the TLS setup cannot be made, e.g. the system has no root
/// certificates.
pub fn http_client(timeout: Option<Duration>) -> Result<reqwest::Client, TransportError> {
    let failed = |message: String| TransportError::Network {
        request: "building the HTTP client".into(),
        message,
    };
    let tls = tls_config().map_err(|e| failed(e.to_string()))?;
    let mut builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().map_err(|e| failed(error_chain(&e)))
}

/// A client for this machine's own services (127.0.0.1): never through a proxy.
pub fn loopback_client(timeout: Duration) -> Result<reqwest::Client, TransportError> {
    let failed = |message: String| TransportError::Network {
        request: "building the HTTP client".into(),
        message,
    };
    let tls = tls_config().map_err(|e| failed(e.to_string()))?;
    let builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    let builder = builder.timeout(timeout).no_proxy();
    builder.build().map_err(|e| failed(error_chain(&e)))
}

/// What reqwest's own rustls setup builds, with ring as the provider: TLS 1.2 and 1.3,
/// the platform verifier, and ALPN offering HTTP/2 then HTTP/1.1 (reqwest leaves the ALPN
/// of a preconfigured config as it is given).
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use rustls::crypto::CryptoProvider;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Set for the copy of this test binary that runs [`in_a_fresh_process`].
    const FRESH_PROCESS: &str = "MESH_TOOLKIT_TEST_FRESH_PROCESS";

    /// The cipher suites of a provider, comparable.
    fn suites(provider: &CryptoProvider) -> Vec<rustls::CipherSuite> {
        provider.cipher_suites.iter().map(|s| s.suite()).collect()
    }

    /// Answers one plain-HTTP request on loopback with `200 ok`; returns its URL (not
    /// test_support's ScriptedServer: that sits a layer above transport).
    async fn one_answer_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = socket.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the client closed before its request ended");
                request.extend_from_slice(&buffer[..read]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await
                .unwrap();
        });
        url
    }

    /// Builds a client and makes a plain-HTTP request to loopback with it.
    async fn build_and_get() {
        let client = http_client(Some(Duration::from_secs(10))).expect("the client builds");
        let response = client.get(one_answer_server().await).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    #[test]
    fn clients_carry_ring_and_offer_http2() {
        let config = tls_config().unwrap();
        assert_eq!(
            suites(config.crypto_provider()),
            suites(&rustls::crypto::ring::default_provider())
        );
        assert_eq!(config.alpn_protocols, [&b"h2"[..], &b"http/1.1"[..]]);
    }

    /// A process-wide provider cannot be uninstalled, and the other tests share this
    /// process: the checks run in a fresh copy of this test binary, where none is installed.
    #[test]
    fn clients_build_without_a_process_provider_and_beside_the_hosts() {
        let test = "transport::http::tests::in_a_fresh_process";
        let output = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--include-ignored", "--test-threads=1"])
            .env(FRESH_PROCESS, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}{stderr}");
    }

    #[test]
    #[ignore = "run in a fresh process by clients_build_without_a_process_provider_and_beside_the_hosts"]
    fn in_a_fresh_process() {
        if std::env::var_os(FRESH_PROCESS).is_none() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();

        assert!(CryptoProvider::get_default().is_none());
        runtime.block_on(build_and_get());

        // The host program chose a provider of its own (here ring with fewer suites).
        let ring = rustls::crypto::ring::default_provider();
        let hosts = CryptoProvider {
            cipher_suites: ring.cipher_suites[..1].to_vec(),
            ..rustls::crypto::ring::default_provider()
        };
        hosts.install_default().unwrap();
        runtime.block_on(build_and_get());
        let ours = tls_config().unwrap();
        assert_eq!(suites(ours.crypto_provider()), suites(&ring));
        assert_ne!(
            suites(ours.crypto_provider()),
            suites(CryptoProvider::get_default().unwrap())
        );
    }
}
