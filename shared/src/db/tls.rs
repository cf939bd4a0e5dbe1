//! TLS to PostgreSQL with rustls: the public web roots plus, optionally, one extra CA (Supabase's
//! servers chain to a private root that must be trusted explicitly).

use super::DbError;
use std::sync::Arc;

pub(super) fn connector(
    ca_cert_path: Option<&str>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert_path {
        let pem = std::fs::read(path)
            .map_err(|e| DbError::Config(format!("DATABASE_CA_CERT_PATH {path}: {e}")))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert =
                cert.map_err(|e| DbError::Config(format!("DATABASE_CA_CERT_PATH {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| DbError::Config(format!("DATABASE_CA_CERT_PATH {path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}
