//! TLS for the Kubernetes API. kubectl and client-go send bearer tokens
//! only over HTTPS, so standalone mode makes its own certificate authority
//! at start, signs a serving certificate for the addresses it listens on,
//! and hands the CA to clients in the kubeconfig it writes.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use std::net::IpAddr;

pub struct ServingIdentity {
    /// The CA certificate (PEM) clients trust: `certificate-authority-data`.
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A fresh CA and a serving certificate for `ip`, `127.0.0.1` and `localhost`.
pub fn generate(ip: IpAddr) -> anyhow::Result<ServingIdentity> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "tabernetes-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name.push(DnType::CommonName, "tabernetes-apiserver");
    let mut addresses = vec![ip, IpAddr::from([127, 0, 0, 1])];
    addresses.dedup();
    params.subject_alt_names.extend(addresses.into_iter().filter(|a| !a.is_unspecified()).map(SanType::IpAddress));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let cert = params.signed_by(&key, &issuer)?;
    Ok(ServingIdentity { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// The rustls configuration axum-server serves with.
pub async fn rustls_config(identity: &ServingIdentity) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    // ring is the provider compiled in; installing it twice (tests) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(axum_server::tls_rustls::RustlsConfig::from_pem(identity.cert_pem.clone().into_bytes(), identity.key_pem.clone().into_bytes()).await?)
}
