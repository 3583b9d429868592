//! TLS in front of a local server: the emulator (or moto) reached over real
//! TLS handshakes on loopback, with the test certificates in `tls/`.
//!
//! Each accepted TLS connection becomes one plain connection to the server
//! behind, so the emulator's connection count still counts the client's.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The test certificate authority: the only root a client needs to reach a [`TlsFront`].
pub const TEST_CA_PEM: &str = include_str!("../tls/ca.pem");
const SERVER_CERT_PEM: &str = include_str!("../tls/localhost.pem");
const SERVER_KEY_PEM: &str = include_str!("../tls/localhost-key.pem");

/// A TLS listener on 127.0.0.1 forwarding to a local server.
pub struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// In front of the server at `upstream` (its `http://host:port` base URL).
    pub async fn start(upstream: &str) -> std::io::Result<TlsFront> {
        let upstream = url::Url::parse(upstream)
            .map_err(std::io::Error::other)?
            .socket_addrs(|| None)?
            .into_iter()
            .next()
            .ok_or_else(|| std::io::Error::other(format!("no address in {upstream}")))?;
        let config = server_config().map_err(std::io::Error::other)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = client.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return; // a client that does not trust us hangs up here
                    };
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        Ok(TlsFront { addr, task })
    }

    /// `https://127.0.0.1:<port>` (the certificate names it): no name to
    /// resolve, so timings hold only the connection and the handshake.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config() -> Result<rustls::ServerConfig, Box<dyn std::error::Error + Send + Sync>> {
    let chain = CertificateDer::pem_slice_iter(SERVER_CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?)
}
