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
