//! TLS to PostgreSQL with rustls: the public web roots plus, optionally, one extra CA (Supabase's
//! servers chain to a private root that must be trusted explicitly).

use super::DbError;
use crate::config::ExtraCa;
use std::sync::Arc;

pub(super) fn connector(
    extra_ca: Option<&ExtraCa>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(extra) = extra_ca {
        add_extra(&mut roots, extra)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Adds every certificate of the extra CA's PEM; one that holds none is refused rather than
/// leaving verification to fail later with an unknown issuer.
fn add_extra(roots: &mut rustls::RootCertStore, extra: &ExtraCa) -> Result<(), DbError> {
    let (source, pem) = match extra {
        ExtraCa::File(path) => (
            format!("DATABASE_CA_CERT_PATH {path}"),
            std::fs::read(path)
                .map_err(|e| DbError::Config(format!("DATABASE_CA_CERT_PATH {path}: {e}")))?,
        ),
        ExtraCa::Pem(text) => ("DATABASE_CA_CERT".to_string(), text.as_bytes().to_vec()),
    };
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| DbError::Config(format!("{source}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| DbError::Config(format!("{source}: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(DbError::Config(format!(
            "{source}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_ca_without_a_certificate_is_refused_by_name() {
        let Err(e) = connector(Some(&ExtraCa::Pem("not a certificate".into()))) else {
            panic!("a PEM without a certificate is refused");
        };
        assert!(e.to_string().contains("DATABASE_CA_CERT:"), "{e}");
        let Err(e) = connector(Some(&ExtraCa::File("/nonexistent/ca.crt".into()))) else {
            panic!("a missing file is refused");
        };
        assert!(
            e.to_string()
                .contains("DATABASE_CA_CERT_PATH /nonexistent/ca.crt"),
            "{e}"
        );
    }
}
