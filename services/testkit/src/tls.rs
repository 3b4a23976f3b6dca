//! A throwaway PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and localhost,
//! and a client certificate, written as PEM files to a directory removed when the test ends.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The PEM files of a test PKI. The files go with the value.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A fresh CA and the two certificates it signs.
    pub fn generate() -> Self {
        let dir = crate::stores::temp_dir("yimen-pki-");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "yimen test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("self-sign the CA");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            path
        };
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, who: &str| {
            let mut params = CertificateParams::new(names).expect("leaf parameters");
            params.distinguished_name.push(DnType::CommonName, who);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("leaf key");
            let cert = params.signed_by(&key, &ca).expect("sign a leaf");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "yimen test server",
        );
        let (client_cert, client_key) = leaf(
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            "yimen test client",
        );
        Self {
            ca_file: write("ca.pem", ca.pem()),
            server_cert_file: write("server.pem", server_cert),
            server_key_file: write("server.key", server_key),
            client_cert_file: write("client.pem", client_cert),
            client_key_file: write("client.key", client_key),
            dir,
        }
    }

    /// Where the files are, for a test that writes a bad one beside them.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// What a client says before its TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// Nothing: TLS from the first byte (`amqps://`).
    Nothing,
    /// PostgreSQL's SSLRequest, answered `S` before the handshake (`sslmode=require` and up).
    PostgresSslRequest,
}

/// A TLS front for a plaintext server on loopback (the machine's PostgreSQL or RabbitMQ), with
/// the server certificate of a [`TestPki`]: a client that reaches the server through it has
/// really spoken TLS, and verified the certificate, without reconfiguring the shared server.
/// Connections that do not complete a handshake go nowhere.
pub struct TlsFront {
    port: u16,
    handshakes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`host:port`). With
    /// `client_certificates`, a client must present a certificate the PKI's CA signed (mTLS).
    pub async fn start(
        pki: &TestPki,
        upstream: &str,
        before: Before,
        client_certificates: bool,
    ) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = CertificateDer::pem_file_iter(&pki.server_cert_file)
            .expect("read the server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse the server certificate");
        let key = PrivateKeyDer::from_pem_file(&pki.server_key_file).expect("the server key");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if client_certificates {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(&pki.ca_file).expect("read the CA") {
                roots.add(ca.expect("parse the CA")).expect("trust the CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(certs, key)
            .expect("the server certificate and key");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS front");
        let port = listener.local_addr().expect("TLS front address").port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let accepting = tokio::spawn({
            let handshakes = handshakes.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let (acceptor, handshakes, upstream) =
                        (acceptor.clone(), handshakes.clone(), upstream.clone());
                    tokio::spawn(async move {
                        if before == Before::PostgresSslRequest {
                            // Length 8, then the SSLRequest code 80877103.
                            let mut request = [0u8; 8];
                            if inbound.read_exact(&mut request).await.is_err()
                                || request != [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]
                                || inbound.write_all(b"S").await.is_err()
                            {
                                return;
                            }
                        }
                        let Ok(mut tls) = acceptor.accept(inbound).await else {
                            return;
                        };
                        handshakes.fetch_add(1, Ordering::SeqCst);
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                    });
                }
            }
        });
        Self {
            port,
            handshakes,
            accepting,
        }
    }

    /// The port it listens on (127.0.0.1; the certificate also names `localhost`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many TLS handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
