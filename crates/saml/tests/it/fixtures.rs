//! TEST-ONLY key material: every key here is generated afresh at each run (RSA from the OS RNG, P-256
//! from OS random bytes) and lives only in memory; no key is committed. Certificates are built with
//! `x509-cert`'s builder and signed with `rsa` (PKCS#1 v1.5, SHA-256), bare as IdP signing
//! certificates usually are (no extensions).

use std::sync::LazyLock;

use base64::Engine as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::sha2::Sha256;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::der::asn1::BitString;
use x509_cert::der::DateTime;
use x509_cert::der::{Any, Encode as _};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

/// A profile with a fixed issuer and subject and no extensions.
struct Plain {
    subject: Name,
    issuer: Name,
}

impl Profile for Plain {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

/// An RSA key (test-only, generated now) and its self-signed certificate.
pub struct RsaIdentity {
    pub name: &'static str,
    pub signer: SigningKey<Sha256>,
    pub der: Vec<u8>,
}

fn rsa_key(bits: usize) -> rsa::PrivateKey {
    rsa::PrivateKey::new(&mut getrandom::SysRng, bits).unwrap()
}

fn build(
    spki: SubjectPublicKeyInfoOwned,
    subject: &str,
    issuer: &str,
    signer: &SigningKey<Sha256>,
) -> Vec<u8> {
    let profile = Plain {
        subject: subject.parse().unwrap(),
        issuer: issuer.parse().unwrap(),
    };
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).unwrap();
    serial[0] &= 0x7f;
    // Ten years, as IdPs issue their signing certificates; fixed dates (validity is not checked).
    let at = |year| Time::from(DateTime::new(year, 1, 1, 0, 0, 0).unwrap());
    let validity = Validity::new(at(2026), at(2036));
    let builder =
        CertificateBuilder::new(profile, SerialNumber::new(&serial).unwrap(), validity, spki)
            .unwrap();
    builder
        .build::<_, Signature>(signer)
        .unwrap()
        .to_der()
        .unwrap()
}

fn self_signed(bits: usize, name: &'static str) -> RsaIdentity {
    let key = rsa_key(bits);
    let spki = SubjectPublicKeyInfoOwned::from_key(&key.to_public_key()).unwrap();
    let signer = SigningKey::<Sha256>::new(key);
    let der = build(spki, name, name, &signer);
    RsaIdentity { name, signer, der }
}

/// A certificate for `spki`, issued by `issuer`.
pub fn issued(spki: SubjectPublicKeyInfoOwned, subject: &str, issuer: &RsaIdentity) -> Vec<u8> {
    build(spki, subject, issuer.name, &issuer.signer)
}

pub static OKTA: LazyLock<RsaIdentity> = LazyLock::new(|| {
    self_signed(
        2048,
        "CN=dev-123456,OU=SSOProvider,O=Okta,L=San Francisco,ST=California,C=US",
    )
});
pub static ENTRA_CURRENT: LazyLock<RsaIdentity> =
    LazyLock::new(|| self_signed(2048, "CN=Microsoft Azure Federated SSO Certificate"));
pub static ENTRA_NEXT: LazyLock<RsaIdentity> =
    LazyLock::new(|| self_signed(2048, "CN=Microsoft Azure Federated SSO Certificate,OU=next"));
pub static KEYCLOAK: LazyLock<RsaIdentity> = LazyLock::new(|| self_signed(2048, "CN=tessera"));
pub static SMALL: LazyLock<RsaIdentity> = LazyLock::new(|| self_signed(1024, "CN=too small"));

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

fn ec_spki(curve: &str, point: &[u8]) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&ObjectIdentifier::new_unwrap(curve)).unwrap()),
        },
        subject_public_key: BitString::from_bytes(point).unwrap(),
    }
}

/// A P-256 key (test-only, generated now) in a certificate issued by the Keycloak realm's RSA key.
pub static KEYCLOAK_EC: LazyLock<(p256::PublicKey, Vec<u8>)> = LazyLock::new(|| {
    let mut scalar = [0u8; 32];
    getrandom::fill(&mut scalar).unwrap();
    let secret = p256::SecretKey::from_slice(&scalar).unwrap();
    let public = secret.public_key();
    let spki = ec_spki(
        "1.2.840.10045.3.1.7",
        public.to_encoded_point(false).as_bytes(),
    );
    (public, issued(spki, "CN=tessera-ec", &KEYCLOAK))
});

/// A P-256 key (test-only, generated now) that can sign, and its certificate issued by Keycloak's RSA
/// key: an identity provider signing with ECDSA.
pub struct EcIdentity {
    pub signer: p256::ecdsa::SigningKey,
    pub der: Vec<u8>,
}

pub static EC_IDP: LazyLock<EcIdentity> = LazyLock::new(|| {
    let mut scalar = [0u8; 32];
    getrandom::fill(&mut scalar).unwrap();
    let secret = p256::SecretKey::from_slice(&scalar).unwrap();
    let spki = ec_spki(
        "1.2.840.10045.3.1.7",
        secret.public_key().to_encoded_point(false).as_bytes(),
    );
    let der = issued(spki, "CN=idp-ec", &KEYCLOAK);
    EcIdentity {
        signer: p256::ecdsa::SigningKey::from(secret),
        der,
    }
});

/// A P-384 key's certificate (random bytes in the point's place: it is refused before being read).
pub fn p384_certificate() -> Vec<u8> {
    let mut point = [4u8; 97];
    getrandom::fill(&mut point[1..]).unwrap();
    issued(ec_spki("1.3.132.0.34", &point), "CN=p384", &KEYCLOAK)
}

/// An Ed25519 key's certificate.
pub fn ed25519_certificate() -> Vec<u8> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.3.101.112"),
            parameters: None,
        },
        subject_public_key: BitString::from_bytes(&key).unwrap(),
    };
    issued(spki, "CN=ed25519", &KEYCLOAK)
}

pub fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Base64 wrapped at 64 columns, as Keycloak and ADFS publish it.
pub fn b64_wrapped(der: &[u8]) -> String {
    let text = b64(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("\n{}\n", lines.join("\n"))
}
