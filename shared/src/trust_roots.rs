//! The certificate authorities every HTTPS client of a process trusts (the
//! Twilio client, the AWS SDK's for SSM and DynamoDB, the event sender),
//! found and read once, from one PEM bundle.
//!
//! Left to themselves, the AWS SDK and reqwest each load the system's roots
//! when they are built, and read every file of the certificate directory as
//! well where `SSL_CERT_DIR` is set: file and parsing work, twice, between a
//! cold start and its first answer. Here the bundle is the one OpenSSL would
//! use (`SSL_CERT_FILE`, else the usual places, among them Amazon Linux's
//! `/etc/pki/tls/certs/ca-bundle.crt`), and nothing else is read.

use std::path::Path;
use std::sync::OnceLock;

use aws_sdk_ssm::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Root certificates, each already accepted as a trust anchor.
pub struct TrustRoots {
    /// For reqwest, which takes them one by one.
    certificates: Vec<reqwest::Certificate>,
    /// The same certificates as one PEM document, for the AWS SDK.
    pem: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustRootsError {
    #[error("cannot read the certificate bundle {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the certificate bundle {path} holds no usable root certificate")]
    Empty { path: String },
}

impl TrustRoots {
    /// The process's roots, found and read on the first call. `None` when
    /// there is no bundle, or none usable: each client then loads the
    /// system's roots its own way, as it would without this module.
    pub fn system() -> Option<&'static TrustRoots> {
        static ROOTS: OnceLock<Option<TrustRoots>> = OnceLock::new();
        ROOTS
            .get_or_init(|| {
                let path = openssl_probe::probe().cert_file?;
                TrustRoots::read(&path)
                    .inspect_err(|err| tracing::warn!(%err, "each HTTPS client loads the system's roots itself"))
                    .ok()
            })
            .as_ref()
    }

    /// Reads a PEM bundle; certificates that are not usable trust anchors
    /// are left out (and counted in the log), as OpenSSL would ignore them.
    pub fn read(path: &Path) -> Result<Self, TrustRootsError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TrustRootsError::Read {
            path: shown.clone(),
            source,
        })?;
        let roots = TrustRoots::from_pem(&pem);
        if roots.certificates.is_empty() {
            return Err(TrustRootsError::Empty { path: shown });
        }
        tracing::debug!(path = %shown, roots = roots.len(), "trust roots read");
        Ok(roots)
    }

    /// The usable root certificates of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Self {
        let mut certificates = Vec::new();
        let mut usable = Vec::new();
        let mut unusable = 0usize;
        // What rustls accepts as a trust anchor; the store itself is not kept.
        let mut anchors = rustls::RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(pem) {
            // A bundle that is not even PEM is no bundle: the clients then
            // load the system's roots their own way ([`TrustRoots::system`]).
            let Ok(der) = der else {
                return TrustRoots {
                    certificates: Vec::new(),
                    pem: Vec::new(),
                };
            };
            let accepted = anchors.add(der.clone()).is_ok();
            match (accepted, reqwest::Certificate::from_der(&der)) {
                (true, Ok(certificate)) => {
                    certificates.push(certificate);
                    usable.push(der);
                }
                _ => unusable += 1,
            }
        }
        if unusable > 0 {
            tracing::info!(
                unusable,
                "certificates in the bundle that are not usable roots were left out"
            );
        }
        // The AWS SDK takes PEM and panics on a certificate it cannot use:
        // the bundle as it is when all are usable, else the usable ones again.
        let pem = match unusable {
            0 => pem.to_vec(),
            _ => pem::encode_many(
                &usable
                    .iter()
                    .map(|der| pem::Pem::new("CERTIFICATE", der.to_vec()))
                    .collect::<Vec<_>>(),
            )
            .into_bytes(),
        };
        TrustRoots { certificates, pem }
    }

    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// A reqwest client that trusts these roots and no others.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.tls_certs_only(self.certificates.iter().cloned())
    }

    /// The AWS SDK's HTTP client (rustls with aws-lc, as the SDK's default
    /// is), trusting these roots and no others.
    pub fn aws_http_client(&self) -> SharedHttpClient {
        let trust = TrustStore::empty().with_pem_certificate(self.pem.clone());
        let context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .expect("a trust store alone is a valid TLS context");
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilio_emulator::tls::TEST_CA_PEM;

    const SERVER_CERT_PEM: &str = include_str!("../../dev/twilio-emulator/tls/localhost.pem");

    fn count_certificates(pem: &[u8]) -> usize {
        pem::parse_many(pem)
            .expect("valid PEM")
            .iter()
            .filter(|block| block.tag() == "CERTIFICATE")
            .count()
    }

    #[test]
    fn keeps_the_usable_certificates_and_nothing_else() {
        let garbage = pem::encode(&pem::Pem::new("CERTIFICATE", b"not a certificate".to_vec()));
        let key = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2, 3]));
        let bundle = format!("# a comment line\n{TEST_CA_PEM}{garbage}{key}{SERVER_CERT_PEM}");
        let roots = TrustRoots::from_pem(bundle.as_bytes());
        assert_eq!(roots.len(), 2, "the CA and the server certificate");
        // The SDK's copy holds the same two, and parses (it panics on a bad one).
        assert_eq!(count_certificates(&roots.pem), 2);
        let first = pem::parse_many(&roots.pem).unwrap().remove(0);
        let original = pem::parse(TEST_CA_PEM).unwrap();
        assert_eq!(first.contents(), original.contents());
    }

    #[test]
    fn a_bundle_without_roots_is_refused() {
        let path = std::env::temp_dir().join(format!("no-roots-{}.pem", std::process::id()));
        std::fs::write(&path, "nothing here\n").unwrap();
        let err = TrustRoots::read(&path).err().expect("refused");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, TrustRootsError::Empty { .. }), "{err}");
        let missing = TrustRoots::read(Path::new("/nonexistent/bundle.pem")).err();
        assert!(matches!(missing, Some(TrustRootsError::Read { .. })));
    }

    #[test]
    fn garbage_is_no_bundle() {
        assert!(TrustRoots::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n").is_empty());
        // Good certificates beside a broken block do not make it a bundle either.
        let broken =
            format!("{TEST_CA_PEM}-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n");
        assert!(TrustRoots::from_pem(broken.as_bytes()).is_empty());
    }

    #[test]
    fn a_clean_bundle_reaches_the_sdk_as_it_is() {
        let bundle = format!("{TEST_CA_PEM}{SERVER_CERT_PEM}");
        let roots = TrustRoots::from_pem(bundle.as_bytes());
        assert_eq!(roots.len(), 2);
        assert_eq!(roots.pem, bundle.as_bytes());
    }
}
